from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from ecommerce.bus import Event


@dataclass(frozen=True, kw_only=True)
class ThingHappened(Event, event_type="bus_support.ThingHappened", aggregate="thing_id"):
    thing_id: UUID
    n: int = 0
    sleep_ms: int = 0


@dataclass(frozen=True, kw_only=True)
class Line:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, kw_only=True)
class Deposited(
    Event, event_type="bus_support.Deposited", aggregate="account_id", aggregate_type="account"
):
    account_id: UUID
    amount: Decimal
    at: datetime | None = None
    lines: tuple[Line, ...] = ()
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class LargeDepositFlagged(
    Event,
    event_type="bus_support.LargeDepositFlagged",
    aggregate="account_id",
    aggregate_type="account",
):
    account_id: UUID
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class NobodyListens(Event, event_type="bus_support.NobodyListens", aggregate="thing_id"):
    """An event without subscribers: recorded in the outbox, delivered to no one."""

    thing_id: UUID
