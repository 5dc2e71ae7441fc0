from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db.models import Sum

from apps.inventory import services
from apps.inventory.models import Reservation, ReservationLine, Stock, StockMovement
from apps.inventory.services import ReservationLineIn, StockDTO
from ecommerce.bus.models import OutboxEvent


@pytest.fixture
def stocked(db: None) -> Callable[..., StockDTO]:
    """Create stock through the service, so that its ledger adds up from the start."""
    counter = iter(range(1, 10_000))

    def make(on_hand: int = 10, *, threshold: int = 5, sku: str | None = None) -> StockDTO:
        return services.stock_create(
            product_id=uuid4(),
            sku=sku or f"SKU-{next(counter):04d}",
            on_hand=on_hand,
            low_stock_threshold=threshold,
        )

    return make


def lines(*pairs: tuple[UUID, int]) -> list[ReservationLineIn]:
    return [ReservationLineIn(product_id=p, quantity=q) for p, q in pairs]


def published(prefix: str = "inventory.") -> list[tuple[str, dict[str, Any]]]:
    """The events in the outbox, oldest first, as (type, payload)."""
    return [
        (row.event_type, row.payload)
        for row in OutboxEvent.objects.filter(event_type__startswith=prefix).order_by("id")
    ]


def published_types(prefix: str = "inventory.") -> list[str]:
    return [event_type for event_type, _ in published(prefix)]


def counters(product_id: UUID) -> tuple[int, int]:
    stock = Stock.objects.get(product_id=product_id)
    return stock.on_hand, stock.reserved


def assert_ledger_adds_up() -> None:
    """Every stock's counters equal the sum of its ledger, and reserved equals what its
    active reservations hold."""
    for stock in Stock.objects.all():
        sums = StockMovement.objects.filter(product_id=stock.product_id).aggregate(
            on_hand=Sum("on_hand_delta", default=0), reserved=Sum("reserved_delta", default=0)
        )
        held = ReservationLine.objects.filter(
            product_id=stock.product_id, reservation__status=Reservation.Status.ACTIVE
        ).aggregate(total=Sum("quantity", default=0))["total"]
        assert (stock.on_hand, stock.reserved) == (sums["on_hand"], sums["reserved"]), stock.sku
        assert stock.reserved == held, stock.sku
        assert 0 <= stock.reserved <= stock.on_hand, stock.sku
