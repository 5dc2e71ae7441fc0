"""product_get and product_get_many: products with their availability from inventory."""

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from pytest_django import DjangoAssertNumQueries

from apps.products import services
from tests.products.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_one_product_with_its_availability(give_stock: Callable[[UUID, int], None]) -> None:
    given = ProductFactory(
        sku="K-1",
        name="Kettle",
        slug="kettle",
        price=Decimal("30.00"),
        status="draft",
        category=CategoryFactory(slug="kitchen"),
    )
    give_stock(given.pk, 4)

    product = services.product_get(product_id=given.pk)

    assert product == services.ProductDTO(
        id=given.pk,
        sku="K-1",
        name="Kettle",
        slug="kettle",
        description="",
        price=Decimal("30.00"),
        currency="EUR",
        category="kitchen",
        status="draft",
        image_url="",
        in_stock=True,
        available_quantity=4,
        created_at=given.created_at,
        updated_at=given.updated_at,
    )


def test_many_products_in_two_queries_unknown_ids_left_out(
    give_stock: Callable[[UUID, int], None], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    products = ProductFactory.create_batch(5, category=CategoryFactory())
    give_stock(products[0].pk, 3)
    give_stock(products[1].pk, 0)
    unknown = uuid4()

    with django_assert_num_queries(2):
        found = services.product_get_many(product_ids=[*(p.pk for p in products), unknown])

    assert set(found) == {p.pk for p in products}
    assert [(found[p.pk].in_stock, found[p.pk].available_quantity) for p in products] == [
        (True, 3),
        (False, 0),
        (False, 0),
        (False, 0),
        (False, 0),
    ]


def test_no_ids_no_queries(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    with django_assert_num_queries(0):
        assert services.product_get_many(product_ids=[]) == {}
