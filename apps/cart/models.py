"""Cart's persistence."""
