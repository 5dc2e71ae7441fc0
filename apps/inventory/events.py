"""The events Inventory publishes. Public: other apps subscribe to them."""
