"""Scheduled bus housekeeping, run by django-q2 (schedules are created by a migration)."""

import logging

from ecommerce.bus import operations

logger = logging.getLogger(__name__)


def purge_delivered_events() -> int:
    purged = operations.purge_delivered()
    logger.info("purged %d delivered events past retention", purged)
    return purged


def requeue_expired_leases() -> int:
    requeued = operations.requeue_expired_leases()
    if requeued:
        logger.warning("re-queued %d deliveries whose relay lease expired", requeued)
    return requeued
