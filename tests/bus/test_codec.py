"""Events survive the trip to JSON and back exactly."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from ecommerce.bus import codec
from ecommerce.bus.events import event_class
from tests.bus.support.events import Deposited, Line


def test_an_event_round_trips_exactly_through_json() -> None:
    event = Deposited(
        account_id=uuid4(),
        amount=Decimal("19.90"),
        at=datetime(2026, 1, 31, 12, 30, 15, 123456, tzinfo=UTC),
        lines=(Line(sku="SKU-1", quantity=2, unit_price=Decimal("9.95")),),
        note=None,
    )

    wire = json.loads(json.dumps(event.to_payload()))
    back = Deposited.from_payload(
        wire,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
    )

    assert back == event
    assert wire["amount"] == "19.90"
    assert wire["lines"] == [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.95"}]
    assert "event_id" not in wire  # the envelope travels in the outbox's own columns


def test_event_types_are_registered_by_name() -> None:
    assert event_class("bus_support.Deposited") is Deposited
    assert Deposited.aggregate_type == "account"
    with pytest.raises(LookupError):
        event_class("bus_support.NoSuchThing")


def test_a_field_that_is_not_json_safe_is_refused() -> None:
    with pytest.raises(TypeError, match="float is not a JSON-safe"):
        Deposited(account_id=uuid4(), amount=1.5).to_payload()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": "1.00"},
        {"account_id": "not-a-uuid", "amount": "1.00"},
        {"account_id": str(uuid4()), "amount": 1.0},
        {"account_id": str(uuid4()), "amount": "1.00", "lines": "nope"},
    ],
)
def test_a_payload_that_does_not_fit_raises_decode_error(payload: dict[str, object]) -> None:
    with pytest.raises(codec.DecodeError):
        Deposited.from_payload(payload)
