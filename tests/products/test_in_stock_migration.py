"""Migrations products 0003 and 0005: the new in_stock flag starts from the stock there is,
and an hourly schedule keeps it so."""

from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.models import Schedule

from apps.inventory.models import Stock
from apps.products import tasks
from apps.products.models import Product

BEFORE = [("products", "0002_category_uuid")]
AFTER = [("products", "0005_in_stock_from_stock")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def add_product_before_the_flag(sku: str) -> str:
    """A product row as the earlier schema holds it (no in_stock column)."""
    product_id = uuid4()
    executor = MigrationExecutor(connection)
    old = executor.loader.project_state(BEFORE[0]).apps.get_model("products", "Product")
    old.objects.create(id=product_id, sku=sku, name=sku, slug=sku.lower(), price=Decimal("1"))
    return str(product_id)


@pytest.mark.django_db(transaction=True)
def test_products_with_units_available_start_in_stock() -> None:
    migrate(BEFORE)
    try:
        ids = {sku: add_product_before_the_flag(sku) for sku in ("A", "SOLD-OUT", "NO-STOCK")}
        Stock.objects.create(product_id=ids["A"], sku="A", on_hand=3, reserved=2)
        Stock.objects.create(product_id=ids["SOLD-OUT"], sku="SOLD-OUT", on_hand=2, reserved=2)

        migrate(AFTER)

        flags = dict(Product.objects.values_list("sku", "in_stock"))
        assert flags == {"A": True, "SOLD-OUT": False, "NO-STOCK": False}
        schedule = Schedule.objects.get(func="apps.products.tasks.refresh_in_stock")
        assert (schedule.schedule_type, schedule.minutes) == ("I", 60)
    finally:
        migrate(AFTER)


@pytest.mark.django_db(transaction=True)
def test_the_hourly_refresh_sets_flags_no_subscriber_heard_of() -> None:
    # A crossing published by a process still running the code before products subscribed.
    product_id = uuid4()
    Product.objects.create(id=product_id, sku="K", name="K", slug="k", price=Decimal("1"))
    Stock.objects.create(product_id=product_id, sku="K", on_hand=2)

    assert tasks.refresh_in_stock() == 1
    assert Product.objects.get(pk=product_id).in_stock is True
    assert tasks.refresh_in_stock() == 0
