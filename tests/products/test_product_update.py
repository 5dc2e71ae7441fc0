"""product_update, product_change_price, product_discontinue: changes and their events."""

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from apps.products import services
from apps.products.models import Product
from tests.products.conftest import product_events
from tests.products.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_an_update_changes_the_given_fields_and_names_them() -> None:
    CategoryFactory(slug="kitchen")
    given = ProductFactory(sku="K-1", name="Kettle", description="Old.")

    product = services.product_update(
        product_id=given.pk, name="Electric Kettle", description="Old.", category="kitchen"
    )

    assert (product.name, product.description, product.category) == (
        "Electric Kettle",
        "Old.",
        "kitchen",
    )
    assert product_events(given.pk) == [
        (
            "products.ProductUpdated",
            {
                "product_id": str(given.pk),
                "sku": "K-1",
                "name": "Electric Kettle",
                "status": "active",
                "changed": ["category", "name"],
                "actor_id": None,
            },
        )
    ]


def test_an_update_that_changes_nothing_publishes_nothing() -> None:
    given = ProductFactory(name="Kettle")

    product = services.product_update(product_id=given.pk, name="Kettle")

    assert product.name == "Kettle"
    assert product_events() == []


def test_the_category_can_be_cleared() -> None:
    given = ProductFactory(category=CategoryFactory(slug="kitchen"))

    product = services.product_update(product_id=given.pk, category=None)

    assert product.category is None
    assert Product.objects.get().category is None


def test_setting_the_status_to_discontinued_also_announces_the_discontinuation() -> None:
    given = ProductFactory(sku="K-1", name="Kettle")

    services.product_update(product_id=given.pk, status="discontinued")

    assert [(t, p.get("changed")) for t, p in product_events(given.pk)] == [
        ("products.ProductUpdated", ["status"]),
        ("products.ProductDiscontinued", None),
    ]


@pytest.mark.parametrize("status", ["active", "draft"])
def test_a_discontinued_product_cannot_come_back(status: str) -> None:
    given = ProductFactory(status="discontinued", name="Kettle")

    with pytest.raises(services.ProductDiscontinuedIsFinal) as raised:
        services.product_update(product_id=given.pk, status=status, name="Back again")

    assert (raised.value.code, raised.value.status, raised.value.attr) == (
        "product_discontinued",
        400,
        "status",
    )
    given.refresh_from_db()
    assert (given.status, given.name) == ("discontinued", "Kettle")
    assert product_events() == []


def test_a_discontinued_product_keeps_its_status_while_other_fields_change() -> None:
    given = ProductFactory(status="discontinued", name="Kettle")

    services.product_update(product_id=given.pk, status="discontinued", name="Old kettle")

    given.refresh_from_db()
    assert (given.status, given.name) == ("discontinued", "Old kettle")
    assert [(t, p.get("changed")) for t, p in product_events(given.pk)] == [
        ("products.ProductUpdated", ["name"])
    ]


@pytest.mark.parametrize(
    ("changes", "error", "attr"),
    [
        ({"name": ""}, services.InvalidProduct, "name"),
        ({"category": "nope"}, services.CategoryNotFound, "category"),
        ({"slug": "taken"}, services.DuplicateSlug, "slug"),
        ({"status": "gone"}, services.InvalidProduct, "status"),
    ],
)
def test_a_bad_update_changes_nothing(changes: dict[str, Any], error: type, attr: str) -> None:
    ProductFactory(slug="taken")
    given = ProductFactory(name="Kettle", slug="kettle")

    with pytest.raises(error) as raised:
        services.product_update(product_id=given.pk, description="New.", **changes)

    assert raised.value.attr == attr
    given.refresh_from_db()
    assert (given.name, given.slug, given.description, given.status) == (
        "Kettle",
        "kettle",
        "",
        "active",
    )
    assert product_events() == []


def test_a_price_change_announces_the_old_and_the_new_price(make_user: Any) -> None:
    staff = make_user("staff@example.com", staff=True)
    given = ProductFactory(sku="K-1", name="Kettle", price=Decimal("30.00"))

    product = services.product_change_price(
        product_id=given.pk, price=Decimal("24.5"), actor_id=staff.pk
    )

    assert product.price == Decimal("24.50")
    assert Product.objects.get().price == Decimal("24.50")
    assert product_events(given.pk) == [
        (
            "products.ProductPriceChanged",
            {
                "product_id": str(given.pk),
                "sku": "K-1",
                "name": "Kettle",
                "old_price": "30.00",
                "new_price": "24.50",
                "currency": "EUR",
                "actor_id": str(staff.pk),
            },
        )
    ]


def test_details_and_price_change_together_details_first() -> None:
    given = ProductFactory(sku="K-1", name="Kettle", price=Decimal("30.00"))

    product = services.product_update(product_id=given.pk, name="Big Kettle", price=Decimal("25"))

    assert (product.name, product.price) == ("Big Kettle", Decimal("25.00"))
    assert [(t, p.get("changed"), p.get("new_price")) for t, p in product_events(given.pk)] == [
        ("products.ProductUpdated", ["name"], None),
        ("products.ProductPriceChanged", None, "25.00"),
    ]


def test_a_bad_price_in_an_update_changes_no_detail_either() -> None:
    given = ProductFactory(name="Kettle", price=Decimal("30.00"))

    with pytest.raises(services.InvalidPrice):
        services.product_update(product_id=given.pk, name="Big Kettle", price=Decimal("-1"))

    assert Product.objects.values_list("name", "price").get() == ("Kettle", Decimal("30.00"))
    assert product_events() == []


def test_the_same_price_again_changes_nothing() -> None:
    given = ProductFactory(price=Decimal("30.00"))

    product = services.product_change_price(product_id=given.pk, price=Decimal("30"))

    assert product.price == Decimal("30.00")
    assert product_events() == []


@pytest.mark.parametrize("zero", ["-0", "-0.00", Decimal("-0")])
def test_minus_zero_is_a_price_of_zero(zero: Any) -> None:
    given = ProductFactory(price=Decimal("30.00"))

    product = services.product_change_price(product_id=given.pk, price=zero)

    assert str(product.price) == "0.00"
    [(_, payload)] = product_events(given.pk)
    assert payload["new_price"] == "0.00"


@pytest.mark.parametrize("price", [Decimal("-1"), "abc", Decimal("0.001"), None])
def test_a_bad_price_changes_nothing(price: Any) -> None:
    given = ProductFactory(price=Decimal("30.00"))

    with pytest.raises(services.InvalidPrice):
        services.product_change_price(product_id=given.pk, price=price)

    assert Product.objects.get().price == Decimal("30.00")
    assert product_events() == []


def test_a_free_product_is_allowed() -> None:
    given = ProductFactory(price=Decimal("30.00"))

    assert services.product_change_price(product_id=given.pk, price=Decimal(0)).price == 0


def test_discontinuing_is_announced_once_however_often_it_is_asked() -> None:
    given = ProductFactory(sku="K-1", name="Kettle")

    first = services.product_discontinue(product_id=given.pk)
    second = services.product_discontinue(product_id=given.pk)

    assert (first.status, second.status) == ("discontinued", "discontinued")
    assert product_events(given.pk) == [
        (
            "products.ProductDiscontinued",
            {"product_id": str(given.pk), "sku": "K-1", "name": "Kettle", "actor_id": None},
        )
    ]


@pytest.mark.parametrize(
    "use_case",
    [
        lambda pid: services.product_update(product_id=pid, name="X"),
        lambda pid: services.product_change_price(product_id=pid, price=Decimal(1)),
        lambda pid: services.product_discontinue(product_id=pid),
        lambda pid: services.product_get(product_id=pid),
    ],
    ids=["update", "change_price", "discontinue", "get"],
)
def test_an_unknown_product_is_not_found(use_case: Any) -> None:
    with pytest.raises(services.ProductNotFound):
        use_case(uuid4())

    assert product_events() == []
