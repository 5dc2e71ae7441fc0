"""Scheduled catalog work, run by django-q2 (the schedule is created by a migration)."""

import logging

from apps.products import services

logger = logging.getLogger(__name__)


def refresh_in_stock() -> int:
    """Set every product's ``in_stock`` flag from stock now: the net under inventory's
    events, for crossings no products subscriber was there to hear (published by a process
    still running the code before this one, during a deploy)."""
    changed = services.products_refresh_in_stock()
    if changed:
        # Also the flags whose crossings are still queued (the relay behind, a dead
        # delivery): those would have been set anyway.
        logger.info("in_stock set from stock for %d products", changed)
    return changed
