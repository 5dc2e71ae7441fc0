"""The platform's own endpoints and commands: health, JSON error pages, `serve`."""
