from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from django.db import transaction

from apps.inventory import services as inventory
from ecommerce.bus.models import OutboxEvent


def product_events(product_id: UUID | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The products events in the outbox, in the order they were published."""
    rows = OutboxEvent.objects.filter(aggregate_type="product")
    if product_id is not None:
        rows = rows.filter(aggregate_id=str(product_id))
    return [(row.event_type, row.payload) for row in rows.order_by("id")]


@pytest.fixture
def give_stock() -> Callable[[UUID, int], None]:
    """Put ``units`` on hand for a product created by a factory (which has no stock yet)."""

    def give(product_id: UUID, units: int) -> None:
        from apps.products.models import Product

        with transaction.atomic():
            sku = Product.objects.get(pk=product_id).sku
            inventory.stock_create(product_id=product_id, sku=sku)
            if units:
                inventory.stock_adjust(product_id=product_id, delta=units, reason="test stock")

    return give
