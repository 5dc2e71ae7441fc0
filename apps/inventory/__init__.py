"""Inventory: stock levels, reservations and the stock ledger."""
