"""The shop's services, one Django app each. Apps talk only through services and events."""
