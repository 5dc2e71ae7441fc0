"""The events Cart publishes. Public: other apps subscribe to them."""
