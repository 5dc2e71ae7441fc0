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
        logger.warning("in_stock was out of step for %d products; set from stock", changed)
    return changed
