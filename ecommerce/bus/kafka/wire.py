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
from ecommerce.bus.models import OutboxEvent

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
        return IncomingEvent(
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
