"""Payments: payments, gateway calls, refunds and webhooks."""
