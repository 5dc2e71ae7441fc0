"""Inventory's persistence."""
