"""The events Payments publishes. Public: other apps subscribe to them."""
