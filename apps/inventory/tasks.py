"""Scheduled inventory work, run by django-q2 (the schedules are created by a migration)."""

import logging

from apps.inventory import services

logger = logging.getLogger(__name__)


def expire_reservations() -> int:
    expired = services.reservations_expire_due()
    if expired:
        logger.info("expired %d reservations past their TTL", expired)
    return expired


def report_stock_drift() -> int:
    """Log products whose reserved count drifts from their active reservations (no fix)."""
    drifts = services.stock_reconcile(fix=False)
    for d in drifts:
        logger.warning(
            "stock drift: %s (%s) reserved %d, active reservations hold %d",
            d.sku,
            d.product_id,
            d.reserved,
            d.expected_reserved,
        )
    return len(drifts)
