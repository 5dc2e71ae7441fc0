"""Running the bus's hot statements."""

from typing import Any
from uuid import UUID

from django.db import connection, transaction

from ecommerce.bus.models import Delivery
from ecommerce.common.db import db_value


def fetch_all(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the default connection and return its rows.

    On PostgreSQL the connection binds on the server and prepares statements it has run a
    few times (settings: DB_PREPARE_THRESHOLD), which matters here: for the bus's statements
    planning costs more than running.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def lease_token_value(token: UUID) -> Any:
    """A lease token as a hand-written statement passes it (a uuid on PostgreSQL, text on
    SQLite)."""
    return db_value(Delivery, "lease_token", token)


def flush_wal() -> None:
    """Return once everything this database has committed so far is on disk.

    Deliveries commit without waiting for the disk (ecommerce/bus/relay.py). Where something
    outside the database is then told the work is done (a Kafka offset), call this first.
    It commits a transaction that writes one small record to the write-ahead log (a logical
    decoding message; a transaction that writes nothing would not wait) with the default,
    durable commit, which waits for the log up to its own record: that covers every commit
    before it.
    """
    if connection.vendor != "postgresql":
        return  # SQLite commits durably every time
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_logical_emit_message(true, 'shop.bus', 'flush')")
