"""product_create: a product in the catalog, its stock, and ProductCreated."""

from decimal import Decimal
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.inventory import services as inventory
from apps.inventory.models import StockMovement
from apps.products import services
from apps.products.models import Product
from ecommerce.common.errors import DomainError
from tests.products.conftest import product_events
from tests.products.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_a_product_is_created_with_its_initial_stock_and_announced(make_user: Any) -> None:
    staff = make_user("staff@example.com", staff=True)
    CategoryFactory(slug="audio", name="Audio")

    product = services.product_create(
        sku="HP-100",
        name="  Studio Headphones ",
        price=Decimal("79.90"),
        description="Closed-back.",
        category="audio",
        initial_stock=12,
        actor_id=staff.pk,
    )

    assert (product.sku, product.name, product.slug, product.description) == (
        "HP-100",
        "Studio Headphones",
        "studio-headphones",
        "Closed-back.",
    )
    assert (product.price, product.currency, product.category, product.status) == (
        Decimal("79.90"),
        "EUR",
        "audio",
        "active",
    )
    assert (product.in_stock, product.available_quantity, product.image_url) == (True, 12, "")
    assert inventory.stock_get(product_id=product.id).on_hand == 12
    assert list(
        StockMovement.objects.filter(product_id=product.id).values_list(
            "on_hand_delta", "reason", "actor_id"
        )
    ) == [(12, "initial stock", staff.pk)]
    assert product_events(product.id) == [
        (
            "products.ProductCreated",
            {
                "product_id": str(product.id),
                "sku": "HP-100",
                "name": "Studio Headphones",
                "price": "79.90",
                "currency": "EUR",
                "status": "active",
                "category": "audio",
                "actor_id": str(staff.pk),
            },
        )
    ]


def test_without_initial_stock_none_is_available_yet() -> None:
    product = services.product_create(sku="MUG-1", name="Mug", price=Decimal("7"))

    assert (product.price, product.in_stock, product.available_quantity) == (
        Decimal("7.00"),
        False,
        0,
    )
    assert inventory.stock_get_many(product_ids=[product.id]) == {}


def test_the_price_is_in_the_store_currency_of_the_day(settings: SettingsWrapper) -> None:
    settings.STORE_CURRENCY = "USD"

    product = services.product_create(sku="MUG-2", name="Mug", price=Decimal("7.50"))

    assert product.currency == "USD"
    assert Product.objects.get().currency == "USD"


def test_a_second_product_with_the_same_name_gets_a_slug_with_its_sku() -> None:
    services.product_create(sku="MUG-1", name="Blue Mug", price=Decimal("7"))

    second = services.product_create(sku="MUG-2", name="Blue Mug", price=Decimal("7"))

    assert second.slug == "blue-mug-mug-2"


def test_a_draft_can_be_created_with_its_own_slug_and_image() -> None:
    product = services.product_create(
        sku="LAMP-1",
        name="Lamp",
        price=Decimal("30"),
        status="draft",
        slug="reading-lamp",
        image_url="https://img.example.com/lamp.png",
    )

    assert (product.status, product.slug, product.image_url) == (
        "draft",
        "reading-lamp",
        "https://img.example.com/lamp.png",
    )


@pytest.mark.parametrize(
    ("changes", "error", "attr"),
    [
        ({"sku": "TAKEN-1"}, services.DuplicateSku, "sku"),
        ({"category": "no-such-category"}, services.CategoryNotFound, "category"),
        ({"price": Decimal("-0.01")}, services.InvalidPrice, "price"),
        ({"price": "twelve"}, services.InvalidPrice, "price"),
        ({"price": Decimal("1.999")}, services.InvalidPrice, "price"),
        ({"price": Decimal("NaN")}, services.InvalidPrice, "price"),
        ({"price": 1.5}, services.InvalidPrice, "price"),
        ({"name": "   "}, services.InvalidProduct, "name"),
        ({"sku": ""}, services.InvalidProduct, "sku"),
        ({"status": "sold"}, services.InvalidProduct, "status"),
        ({"slug": "taken"}, services.DuplicateSlug, "slug"),
        ({"slug": "not a slug"}, services.InvalidProduct, "slug"),
        ({"image_url": "ftp://x"}, services.InvalidProduct, "image_url"),
        ({"initial_stock": -1}, services.InvalidProduct, "initial_stock"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(
    changes: dict[str, Any], error: type[DomainError], attr: str
) -> None:
    ProductFactory(sku="TAKEN-1", slug="taken")
    arguments: dict[str, Any] = {
        "sku": "NEW-1",
        "name": "New",
        "price": Decimal("5.00"),
        "initial_stock": 3,
        **changes,
    }

    with pytest.raises(error) as raised:
        services.product_create(**arguments)

    assert raised.value.attr == attr
    assert list(Product.objects.values_list("sku", flat=True)) == ["TAKEN-1"]
    assert product_events() == []
