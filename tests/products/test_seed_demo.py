"""manage.py seed_demo: the demo catalog, once."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.inventory import services as inventory
from apps.products.models import Category, Product
from ecommerce.bus.models import OutboxEvent

pytestmark = pytest.mark.django_db


def seed(products: int) -> str:
    out = StringIO()
    call_command("seed_demo", "--products", str(products), stdout=out)
    return out.getvalue()


def test_seeding_creates_categories_and_products_with_stock() -> None:
    output = seed(20)

    assert Category.objects.count() == 12
    assert Product.objects.count() == 20
    assert Product.objects.filter(category__parent__slug="electronics").count() == 8
    stock = inventory.stock_get_many(product_ids=list(Product.objects.values_list("pk", flat=True)))
    sold_out = {p.sku for p in Product.objects.all() if p.pk not in stock}
    assert sold_out == {"DEMO-0010", "DEMO-0020"}  # created without stock: none on hand
    assert all(level.available > 0 for level in stock.values())
    assert OutboxEvent.objects.filter(event_type="products.ProductCreated").count() == 20
    assert "12 categories and 20 products created" in output


def test_seeding_twice_creates_nothing_new() -> None:
    seed(20)
    events = OutboxEvent.objects.count()
    prices = dict(Product.objects.values_list("sku", "price"))

    output = seed(20)

    assert "0 categories and 0 products created" in output
    assert (Category.objects.count(), Product.objects.count()) == (12, 20)
    assert OutboxEvent.objects.count() == events
    assert dict(Product.objects.values_list("sku", "price")) == prices


def test_seeding_more_later_adds_only_the_missing_products() -> None:
    seed(5)

    seed(8)

    assert sorted(Product.objects.values_list("sku", flat=True)) == [
        f"DEMO-{n:04d}" for n in range(1, 9)
    ]
