"""Scheduled platform housekeeping, run by django-q2 (the schedule is created by a migration)."""

import logging

from ecommerce.core.idempotency import purge_expired_keys

logger = logging.getLogger(__name__)


def purge_idempotency_keys() -> int:
    purged = purge_expired_keys()
    logger.info("purged %d expired idempotency keys", purged)
    return purged
