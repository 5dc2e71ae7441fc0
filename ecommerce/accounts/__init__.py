"""Accounts: the shop's user model (email is the login) and the register/token API."""
