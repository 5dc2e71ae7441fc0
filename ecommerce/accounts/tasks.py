"""Scheduled account housekeeping, run by django-q2 (the schedule is created by a migration)."""

import logging

from ecommerce.accounts.services import tokens_purge_expired

logger = logging.getLogger(__name__)


def purge_expired_tokens() -> int:
    purged = tokens_purge_expired()
    logger.info("purged %d expired API tokens", purged)
    return purged
