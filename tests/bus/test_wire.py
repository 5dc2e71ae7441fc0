"""Reading an outbox event off Kafka: what cannot be stored is a bad message, skipped."""

from typing import Any
from uuid import uuid4

import pytest
from django.utils import timezone

from ecommerce.bus.conf import KafkaSettings
from ecommerce.bus.kafka.wire import BadMessage, message_for, read_message
from ecommerce.bus.models import OutboxEvent

KAFKA = KafkaSettings(bootstrap_servers="127.0.0.1:9092", topic_prefix="shop.")


def row(**fields: Any) -> OutboxEvent:
    values: dict[str, Any] = {
        "event_id": uuid4(),
        "event_type": "bus_support.ThingHappened",
        "event_version": 1,
        "aggregate_type": "bus_support",
        "aggregate_id": str(uuid4()),
        "sequence": 7,
        "payload": {"n": 1, "lines": [{"name": "Mug"}]},
        "occurred_at": timezone.now(),
        "correlation_id": uuid4(),
        **fields,
    }
    return OutboxEvent(**values)


def read(event: OutboxEvent) -> Any:
    message = message_for(event, KAFKA)
    return read_message(message.key, message.value, message.headers)


def test_a_message_reads_back_as_the_event_it_carries() -> None:
    event = row()

    incoming = read(event)

    assert (incoming.event_id, incoming.sequence, incoming.payload) == (
        event.event_id,
        7,
        {"n": 1, "lines": [{"name": "Mug"}]},
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sequence": 2**70}, "sequence .* is out of range"),
        ({"sequence": 0}, "sequence 0 is out of range"),
        ({"event_version": 70_000}, "event version 70000 is out of range"),
        ({"aggregate_id": "x" * 101}, "aggregate_id is longer than 100"),
        ({"event_type": "t" * 151}, "event_type is longer than 150"),
        ({"payload": {"lines": [{"name": "Mug\x00"}]}}, "NUL character"),
        ({"payload": {"na\x00me": 1}}, "NUL character"),
        ({"aggregate_id": "a\x00b"}, "NUL character"),
        ({"payload": {"lines": [{"name": "Mug\ud800"}]}}, "lone surrogate"),
        ({"payload": {"\udfff": 1}}, "lone surrogate"),
        ({"payload": {"deep": [[["\x00"]]]}}, "NUL character"),
    ],
)
def test_a_message_the_outbox_columns_cannot_hold_is_a_bad_message(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(BadMessage, match=reason):
        read(row(**fields))


def test_a_payload_nested_deeper_than_json_decodes_is_a_bad_message() -> None:
    message = message_for(row(), KAFKA)

    with pytest.raises(BadMessage, match="nested too deeply"):
        read_message(message.key, b"[" * 100_000 + b"]" * 100_000, message.headers)
