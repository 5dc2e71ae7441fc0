"""Migration products 0002: categories' integer ids become UUIDs, their links kept."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("products", "0001_initial")]
AFTER = [("products", "0002_category_uuid")]


def migrate(targets: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_categories_get_uuids_and_keep_their_parents_and_products() -> None:
    old = migrate(BEFORE)
    Category, Product = old.get_model("products", "Category"), old.get_model("products", "Product")
    outdoors = Category.objects.create(name="Outdoors", slug="outdoors")
    camping = Category.objects.create(name="Camping", slug="camping", parent=outdoors)
    Category.objects.create(name="Mugs", slug="mugs")
    product = {"price": Decimal("1.00"), "currency": "EUR", "status": "active"}
    Product.objects.create(sku="T-1", name="Tent", slug="tent", category=camping, **product)
    Product.objects.create(sku="L-1", name="Lamp", slug="lamp", category=outdoors, **product)
    Product.objects.create(sku="C-1", name="Cup", slug="cup", category=None, **product)

    try:
        new = migrate(AFTER)
        Category = new.get_model("products", "Category")
        Product = new.get_model("products", "Product")
        categories = {c.slug: c for c in Category.objects.all()}
        assert all(isinstance(c.pk, uuid.UUID) for c in categories.values())
        assert len({c.pk for c in categories.values()}) == 3
        assert categories["camping"].parent_id == categories["outdoors"].pk
        assert categories["outdoors"].parent_id is None
        assert dict(Product.objects.values_list("sku", "category__slug")) == {
            "T-1": "camping",
            "L-1": "outdoors",
            "C-1": None,
        }
        # And back again: the categories and their links, with integer ids.
        back = migrate(BEFORE)
        Category, Product = (
            back.get_model("products", "Category"),
            back.get_model("products", "Product"),
        )
        assert sorted(Category.objects.values_list("slug", "parent__slug")) == [
            ("camping", "outdoors"),
            ("mugs", None),
            ("outdoors", None),
        ]
        assert all(isinstance(pk, int) for pk in Category.objects.values_list("pk", flat=True))
        assert dict(Product.objects.values_list("sku", "category__slug")) == {
            "T-1": "camping",
            "L-1": "outdoors",
            "C-1": None,
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
