"""``publish(event)``: write the event to the outbox in the caller's transaction."""

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from django.db import connection, transaction
from django.utils import timezone

from ecommerce.bus.conf import bus_settings
from ecommerce.bus.events import Event
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.registry import subscribers_of

E = TypeVar("E", bound=Event)

# The event whose handler is running, so that what it publishes carries the same
# correlation id and names it as the cause.
_handling: ContextVar[Event | None] = ContextVar("bus_handling", default=None)


class PublishOutsideTransaction(RuntimeError):
    """``publish`` was called in autocommit mode, where the event could outlive a failure."""


@contextmanager
def handling(event: Event) -> Iterator[None]:
    token = _handling.set(event)
    try:
        yield
    finally:
        _handling.reset(token)


_NEXT_SEQUENCE_SQL = {
    # The upsert's row lock is held to commit: a second transaction publishing about the same
    # aggregate waits here, so sequence numbers follow commit order. pg_notify in the same
    # statement wakes the relays when (and only if) the transaction commits.
    "postgresql": """
        WITH seq AS (
            INSERT INTO bus_aggregate_sequence (aggregate_type, aggregate_id, last_sequence)
            VALUES (%s, %s, 1)
            ON CONFLICT (aggregate_type, aggregate_id)
            DO UPDATE SET last_sequence = bus_aggregate_sequence.last_sequence + 1
            RETURNING last_sequence
        )
        SELECT last_sequence, pg_notify('bus_events', '') FROM seq
    """,
    # SQLite has one writer at a time, so commit order is already the order of these writes.
    "sqlite": """
        INSERT INTO bus_aggregate_sequence (aggregate_type, aggregate_id, last_sequence)
        VALUES (%s, %s, 1)
        ON CONFLICT (aggregate_type, aggregate_id)
        DO UPDATE SET last_sequence = bus_aggregate_sequence.last_sequence + 1
        RETURNING last_sequence
    """,
}


def publish(event: E) -> E:
    """Record ``event`` in the outbox as part of the current transaction.

    If the transaction rolls back, the event never existed; once it commits, every
    subscriber will get it. Returns the event with its correlation and causation ids set.
    Raises ``PublishOutsideTransaction`` outside ``transaction.atomic()``.
    """
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction(
            f"publish({event.event_type}) needs a transaction: wrap the use case in "
            "transaction.atomic so the event commits or rolls back with its change"
        )
    cause = _handling.get()
    if cause is not None:
        event = dataclasses.replace(
            event,
            correlation_id=event.correlation_id or cause.correlation_id or cause.event_id,
            causation_id=event.causation_id or cause.event_id,
        )
    if event.correlation_id is None:
        event = dataclasses.replace(event, correlation_id=event.event_id)

    aggregate_id = event.aggregate_id
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQUENCE_SQL[connection.vendor], [event.aggregate_type, aggregate_id])
        sequence = cursor.fetchone()[0]

    row = OutboxEvent.objects.create(
        event_id=event.event_id,
        event_type=event.event_type,
        event_version=event.version,
        aggregate_type=event.aggregate_type,
        aggregate_id=aggregate_id,
        sequence=sequence,
        payload=event.to_payload(),
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id or event.event_id,
        causation_id=event.causation_id,
    )
    subscribers = subscribers_of(event.event_type)
    if subscribers:
        now = timezone.now()
        Delivery.objects.bulk_create(
            Delivery(
                event=row,
                subscriber=s.name,
                aggregate_type=row.aggregate_type,
                aggregate_id=aggregate_id,
                sequence=sequence,
                next_attempt_at=now,
            )
            for s in subscribers
        )
        if bus_settings().eager:
            from ecommerce.bus.relay import deliver_event_now

            transaction.on_commit(lambda: deliver_event_now(row.pk))
    return event
