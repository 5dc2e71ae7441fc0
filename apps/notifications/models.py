"""Notifications's persistence."""
