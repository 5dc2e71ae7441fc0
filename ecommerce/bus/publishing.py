"""``publish(event)``: write the event to the outbox in the caller's transaction."""

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from django.db import connection, transaction
from django.utils import timezone

from ecommerce.bus.conf import KAFKA, KAFKA_PRODUCER, bus_settings, transport
from ecommerce.bus.db import fetch_all
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


# An aggregate's first event comes after the floor an operator may have raised after restoring
# this database from a backup (operations.advance_sequences); 1 otherwise.
_FIRST_SEQUENCE = "COALESCE((SELECT floor FROM bus_sequence_floor WHERE id = 1), 0) + 1"

# PostgreSQL: the whole publish is one statement. The sequence upsert's row lock is held to
# commit, so a second transaction publishing about the same aggregate waits here and sequence
# numbers follow commit order. pg_notify wakes the relays when (and only if) it commits, and
# only if there is something to deliver: an event nobody subscribes to would wake every relay
# for a claim that finds nothing.
_PUBLISH_SQL_POSTGRES = f"""
    WITH seq AS (
        INSERT INTO bus_aggregate_sequence (aggregate_type, aggregate_id, last_sequence)
        VALUES (%(aggregate_type)s, %(aggregate_id)s, {_FIRST_SEQUENCE})
        ON CONFLICT (aggregate_type, aggregate_id)
        DO UPDATE SET last_sequence = bus_aggregate_sequence.last_sequence + 1
        RETURNING last_sequence
    ), event AS (
        INSERT INTO bus_event (event_id, event_type, event_version, aggregate_type, aggregate_id,
                               sequence, payload, occurred_at, correlation_id, causation_id)
        SELECT %(event_id)s, %(event_type)s, %(version)s, %(aggregate_type)s, %(aggregate_id)s,
               seq.last_sequence, %(payload)s::jsonb, %(occurred_at)s, %(correlation_id)s,
               %(causation_id)s
          FROM seq
        RETURNING id, sequence
    ), deliveries AS (
        INSERT INTO bus_delivery (event_id, subscriber, aggregate_type, aggregate_id, sequence,
                                  status, attempts, next_attempt_at, last_error)
        SELECT event.id, subscriber, %(aggregate_type)s, %(aggregate_id)s, event.sequence,
               'pending', 0, %(now)s, ''
          FROM event, unnest(%(subscribers)s::text[]) AS subscriber
    )
    SELECT event.id,
           CASE WHEN cardinality(%(subscribers)s::text[]) > 0 THEN pg_notify('bus_events', '') END
      FROM event
"""

# SQLite has one writer at a time, so commit order is already the order of these writes.
_NEXT_SEQUENCE_SQL_SQLITE = f"""
    INSERT INTO bus_aggregate_sequence (aggregate_type, aggregate_id, last_sequence)
    VALUES (%s, %s, {_FIRST_SEQUENCE})
    ON CONFLICT (aggregate_type, aggregate_id)
    DO UPDATE SET last_sequence = bus_aggregate_sequence.last_sequence + 1
    RETURNING last_sequence
"""


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

    if transport() == KAFKA:
        # Every event goes to its topic, whoever consumes it; the relay produces it there.
        # Not eagerly: a request must not wait for (or on) the broker.
        subscribers, eager = [KAFKA_PRODUCER], False
    else:
        subscribers = [s.name for s in subscribers_of(event.event_type)]
        eager = bus_settings().eager
    if connection.vendor == "postgresql":
        event_pk = _write_postgres(event, subscribers)
    else:
        event_pk = _write_portable(event, subscribers)
    if subscribers and eager:
        from ecommerce.bus.relay import deliver_event_now

        transaction.on_commit(lambda: deliver_event_now(event_pk))
    return event


def _write_postgres(event: Event, subscribers: list[str]) -> int:
    rows = fetch_all(
        _PUBLISH_SQL_POSTGRES,
        {
            "event_id": event.event_id,
            "event_type": event.event_type,
            "version": event.version,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "payload": json.dumps(event.to_payload()),
            "occurred_at": event.occurred_at,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "subscribers": subscribers,
            "now": timezone.now(),
        },
    )
    return int(rows[0][0])


def _write_portable(event: Event, subscribers: list[str]) -> int:
    aggregate_id = event.aggregate_id
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQUENCE_SQL_SQLITE, [event.aggregate_type, aggregate_id])
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
    Delivery.objects.bulk_create(
        Delivery(
            event=row,
            subscriber=name,
            aggregate_type=event.aggregate_type,
            aggregate_id=aggregate_id,
            sequence=sequence,
            next_attempt_at=timezone.now(),
        )
        for name in subscribers
    )
    return row.pk
