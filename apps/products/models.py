"""Products's persistence."""
