"""Notifications: notifications to customers, templates and subscriptions."""
