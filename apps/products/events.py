"""The events Products publishes. Public: other apps subscribe to them."""
