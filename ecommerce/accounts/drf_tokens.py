"""DRF's tokens (``authtoken_token``, kept in clear by earlier versions) carried over into
API tokens with the same keys, so their clients stay signed in (docs/ACCOUNTS.md).

Run by migration accounts 0002 and again, by ``manage.py carry_over_drf_tokens``, once no
instance of the earlier code is left issuing them during an upgrade. Safe to repeat.
"""

from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings

TABLE = "authtoken_token"


def carry_over_drf_tokens(token_model: Any, connection: BaseDatabaseWrapper) -> int | None:
    """Make each DRF key a token expiring a full ``TOKEN_TTL`` from now, then delete those
    keys (each one signs in as its user). The number carried over; ``None`` without the
    table. ``token_model``: knox's ``AuthToken``, or the migration's historical one."""
    if TABLE not in connection.introspection.table_names():
        return None
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {TABLE}")
        keys = cursor.fetchall()
        token_model.objects.bulk_create(
            [
                token_model(
                    digest=hash_token(key),
                    token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                    user_id=user_id,
                    expiry=expiry,
                )
                for key, user_id in keys
            ],
            ignore_conflicts=True,  # a key carried over before (a table restored, say)
        )
        # Only the keys read: one an earlier instance issues meanwhile waits for the next run.
        cursor.executemany(f"DELETE FROM {TABLE} WHERE key = %s", [(key,) for key, _ in keys])
    return len(keys)
