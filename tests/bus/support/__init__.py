"""A small app the bus tests publish to and subscribe from (installed by the test settings)."""
