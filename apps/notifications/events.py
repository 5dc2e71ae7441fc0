"""The events Notifications publishes. Public: other apps subscribe to them."""
