"""The base class of every event, and the registry of event types.

An event is a frozen, keyword-only dataclass named in the past tense::

    @dataclass(frozen=True, kw_only=True)
    class CartCheckedOut(Event, event_type="cart.CartCheckedOut", aggregate="cart_id"):
        cart_id: UUID
        total: Decimal

``event_type`` is its stable name on the wire, ``aggregate`` the field holding the id of the
aggregate it is about (the bus keeps one aggregate's events in commit order), and
``aggregate_type`` defaults to the part of ``event_type`` before the dot. ``version`` goes up
only for a breaking change, which is then a new class. ``hidden`` names fields that staff
pages do not show (a gateway's payment token): subscribers get them as any other.
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from django.utils import timezone

from ecommerce.bus import codec

ENVELOPE_FIELDS = frozenset({"event_id", "occurred_at", "correlation_id", "causation_id"})

_event_types: dict[str, type["Event"]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    aggregate_field: ClassVar[str]
    hidden_fields: ClassVar[frozenset[str]] = frozenset()

    # The envelope: set by the bus, carried in the outbox's own columns.
    event_id: UUID = field(default_factory=uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)
    correlation_id: UUID | None = None
    causation_id: UUID | None = None

    def __init_subclass__(
        cls,
        *,
        event_type: str,
        aggregate: str,
        aggregate_type: str | None = None,
        version: int = 1,
        hidden: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if "." not in event_type:
            raise TypeError(f"event_type {event_type!r} must look like 'app.EventName'")
        if event_type in _event_types:
            raise TypeError(f"event_type {event_type!r} is declared twice")
        cls.event_type = event_type
        cls.version = version
        cls.aggregate_type = aggregate_type or event_type.split(".", 1)[0]
        cls.aggregate_field = aggregate
        cls.hidden_fields = frozenset(hidden)
        _event_types[event_type] = cls

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))

    def to_payload(self) -> dict[str, Any]:
        """The JSON-safe body stored in the outbox (the envelope lives in its own columns)."""
        return {
            f.name: codec.encode(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in ENVELOPE_FIELDS
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], **envelope: Any) -> Self:
        """Rebuild the event; raises ``codec.DecodeError`` if the payload no longer fits."""
        event = codec.decode_dataclass(cls, payload, skip=ENVELOPE_FIELDS)
        return dataclasses.replace(event, **envelope)


def event_class(event_type: str) -> type[Event]:
    try:
        return _event_types[event_type]
    except KeyError:
        raise LookupError(f"unknown event type {event_type!r}") from None


def event_types() -> dict[str, type[Event]]:
    return dict(_event_types)


def aggregate_types() -> set[str]:
    """The aggregate types the declared events are numbered under."""
    return {cls.aggregate_type for cls in _event_types.values()}
