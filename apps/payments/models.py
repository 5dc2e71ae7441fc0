"""Payments's persistence."""
