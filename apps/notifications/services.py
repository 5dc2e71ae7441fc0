"""Notifications's public service interface: use cases, their DTOs and the app's exceptions.

Other apps may import this module and ``apps.notifications.events``; the rest of the app is
private.
"""
