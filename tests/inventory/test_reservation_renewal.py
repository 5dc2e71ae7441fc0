"""A renewal that drops a product gives its units back: that product may be back in stock."""

from collections.abc import Callable
from uuid import uuid4

import pytest

from apps.inventory import services
from apps.inventory.services import StockDTO
from tests.inventory.conftest import counters, lines, published, published_types

pytestmark = pytest.mark.django_db

StockMaker = Callable[..., StockDTO]


def test_a_product_a_renewal_only_gives_back_is_announced_back_in_stock(
    stocked: StockMaker,
) -> None:
    mug, tea = stocked(2, threshold=0), stocked(5, threshold=0)
    reference = uuid4()
    first = services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    assert published_types()[-1] == "inventory.OutOfStock"

    # The cart now holds tea only: the mug's units go back and are not taken again.
    services.reservation_create(
        reference=reference, lines=lines((tea.product_id, 1)), renewing_expires_at=first.expires_at
    )

    assert published_types()[-3:] == [
        "inventory.StockReleased",
        "inventory.StockReserved",
        "inventory.BackInStock",
    ]
    assert published()[-1][1] == {
        "product_id": str(mug.product_id),
        "sku": mug.sku,
        "available": 2,
    }
    assert (counters(mug.product_id), counters(tea.product_id)) == ((2, 0), (5, 1))
