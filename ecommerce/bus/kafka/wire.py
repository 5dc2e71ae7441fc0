"""An outbox event on Kafka, and back.

Following the Debezium outbox event router: the topic is the prefix plus the aggregate type,
the key is the aggregate id (so one aggregate's events share a partition and keep their
order), the value is the event's JSON payload, and the envelope travels in headers.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ecommerce.bus.conf import KafkaSettings
from ecommerce.bus.models import MAX_SEQUENCE, OutboxEvent
from ecommerce.common.text import is_text, strings_in

EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
EVENT_VERSION = "event_version"
AGGREGATE_TYPE = "aggregate_type"
SEQUENCE = "sequence"
OCCURRED_AT = "occurred_at"
CORRELATION_ID = "correlation_id"
CAUSATION_ID = "causation_id"


class BadMessage(ValueError):
    """A message on a bus topic that does not carry an outbox event."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


def message_for(row: OutboxEvent, kafka: KafkaSettings) -> OutgoingMessage:
    envelope = {
        EVENT_ID: str(row.event_id),
        EVENT_TYPE: row.event_type,
        EVENT_VERSION: str(row.event_version),
        AGGREGATE_TYPE: row.aggregate_type,
        SEQUENCE: str(row.sequence),
        OCCURRED_AT: row.occurred_at.isoformat(),
        CORRELATION_ID: str(row.correlation_id),
    }
    if row.causation_id is not None:
        envelope[CAUSATION_ID] = str(row.causation_id)
    return OutgoingMessage(
        topic=kafka.topic(row.aggregate_type),
        key=row.aggregate_id.encode(),
        value=json.dumps(row.payload, separators=(",", ":")).encode(),
        headers=[(name, value.encode()) for name, value in envelope.items()],
    )


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """What a consumer read: the fields of the outbox row it came from."""

    event_id: UUID
    event_type: str
    event_version: int
    aggregate_type: str
    aggregate_id: str
    sequence: int
    payload: Any
    occurred_at: datetime
    correlation_id: UUID
    causation_id: UUID | None

    def as_row(self) -> OutboxEvent:
        return OutboxEvent(
            event_id=self.event_id,
            event_type=self.event_type,
            event_version=self.event_version,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            sequence=self.sequence,
            payload=self.payload,
            occurred_at=self.occurred_at,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )


def read_message(key: bytes | None, value: bytes | None, headers: Any) -> IncomingEvent:
    """Raises ``BadMessage`` when a header is missing or malformed, or the value is not JSON."""
    if not key:
        raise BadMessage("the message has no key (the aggregate id)")
    try:
        found = {name: raw.decode() for name, raw in headers or [] if raw is not None}
        causation = found.get(CAUSATION_ID)
        event = IncomingEvent(
            event_id=UUID(found[EVENT_ID]),
            event_type=found[EVENT_TYPE],
            event_version=int(found[EVENT_VERSION]),
            aggregate_type=found[AGGREGATE_TYPE],
            aggregate_id=key.decode(),
            sequence=int(found[SEQUENCE]),
            payload=json.loads(value or b""),
            occurred_at=datetime.fromisoformat(found[OCCURRED_AT]),
            correlation_id=UUID(found[CORRELATION_ID]),
            causation_id=UUID(causation) if causation else None,
        )
    except KeyError as exc:
        raise BadMessage(f"header {exc.args[0]!r} is missing") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"malformed message: {exc}") from exc
    except RecursionError:
        raise BadMessage("malformed message: its payload is nested too deeply") from None
    _check_fits(event)
    return event


# What the outbox columns hold. A message past them could never be stored: read again and
# again, it would hold up its partition instead of being skipped.
_MAX_LENGTHS = {
    "event_type": OutboxEvent._meta.get_field("event_type").max_length,
    "aggregate_type": OutboxEvent._meta.get_field("aggregate_type").max_length,
    "aggregate_id": OutboxEvent._meta.get_field("aggregate_id").max_length,
}
_MAX_VERSION = 32767


def _check_fits(event: IncomingEvent) -> None:
    for name, most in _MAX_LENGTHS.items():
        if len(getattr(event, name)) > (most or 0):
            raise BadMessage(f"{name} is longer than {most} characters")
    if not 1 <= event.sequence <= MAX_SEQUENCE:
        raise BadMessage(f"sequence {event.sequence} is out of range")
    if not 1 <= event.event_version <= _MAX_VERSION:
        raise BadMessage(f"event version {event.event_version} is out of range")
    texts = [event.payload, event.event_type, event.aggregate_type, event.aggregate_id]
    if unstorable := _unstorable_text(texts):
        raise BadMessage(f"the message holds {unstorable}, which PostgreSQL cannot store")


def _unstorable_text(value: Any) -> str | None:
    """What of ``value`` (decoded JSON, or strings) no text column can hold: a NUL, or a
    lone surrogate."""
    for text in strings_in(value):
        if "\x00" in text:
            return "a NUL character"
        if not is_text(text):
            return "a lone surrogate"
    return None
