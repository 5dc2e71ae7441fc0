"""After commit, inventory reacts to ProductCreated: every product has a stock row."""

from decimal import Decimal

import pytest

from apps.inventory import services as inventory
from apps.products import services
from ecommerce.bus.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_product_without_initial_stock_gets_an_empty_stock_row() -> None:
    product = services.product_create(sku="MUG-1", name="Mug", price=Decimal("7.00"))

    stock = inventory.stock_get(product_id=product.id)
    assert (stock.sku, stock.on_hand, stock.reserved, stock.available) == ("MUG-1", 0, 0, 0)
    assert list(Delivery.objects.values_list("subscriber", "status")) == [
        ("inventory.create_stock", "delivered")
    ]


def test_initial_stock_is_kept_when_the_event_arrives_after_it() -> None:
    product = services.product_create(
        sku="MUG-2", name="Mug", price=Decimal("7.00"), initial_stock=9
    )

    assert inventory.stock_get(product_id=product.id).on_hand == 9
    assert services.product_get(product_id=product.id).available_quantity == 9
