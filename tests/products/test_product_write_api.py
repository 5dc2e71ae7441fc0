"""Staff writes: POST /products/, PATCH /products/{id}/, POST /products/{id}/discontinue."""

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from apps.products.models import Product
from tests.products.conftest import product_events
from tests.products.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

NEW_PRODUCT = {"sku": "TENT-2", "name": "Two-person Tent", "price": "149.00"}


def test_staff_add_a_product_with_stock(staff_api: APIClient) -> None:
    CategoryFactory(slug="camping")

    response = staff_api.post(
        "/api/v1/products/", {**NEW_PRODUCT, "category": "camping", "initial_stock": 5}
    )

    assert response.status_code == 201
    body = response.json()
    product = Product.objects.get()
    assert {k: body[k] for k in ("id", "sku", "name", "slug", "price", "currency")} == {
        "id": str(product.pk),
        "sku": "TENT-2",
        "name": "Two-person Tent",
        "slug": "two-person-tent",
        "price": "149.00",
        "currency": "EUR",
    }
    assert (body["category"], body["status"], body["in_stock"], body["available_quantity"]) == (
        "camping",
        "active",
        True,
        5,
    )
    assert [t for t, _ in product_events(product.pk)] == ["products.ProductCreated"]


def test_staff_patch_details_and_price_together(staff_api: APIClient) -> None:
    product = ProductFactory(sku="K-1", name="Kettle", price=Decimal("30.00"))

    response = staff_api.patch(
        f"/api/v1/products/{product.pk}/", {"name": "Electric Kettle", "price": "27.50"}
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["price"]) == ("Electric Kettle", "27.50")
    events = product_events(product.pk)
    assert [t for t, _ in events] == ["products.ProductUpdated", "products.ProductPriceChanged"]
    assert events[1][1]["old_price"] == "30.00"
    assert events[1][1]["new_price"] == "27.50"


def test_a_failed_patch_leaves_the_product_as_it_was(staff_api: APIClient) -> None:
    product = ProductFactory(name="Kettle", price=Decimal("30.00"))

    response = staff_api.patch(
        f"/api/v1/products/{product.pk}/",
        {"name": "Electric Kettle", "price": "27.50", "category": "no-such-category"},
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "unknown_category",
            "detail": "No category with the slug 'no-such-category'.",
            "attr": "category",
        }
    ]
    product.refresh_from_db()
    assert (product.name, product.price) == ("Kettle", Decimal("30.00"))
    assert product_events() == []


def test_staff_discontinue_a_product_once_or_twice(staff_api: APIClient) -> None:
    product = ProductFactory()
    url = f"/api/v1/products/{product.pk}/discontinue"

    first, second = staff_api.post(url), staff_api.post(url)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "discontinued"
    assert [t for t, _ in product_events(product.pk)] == ["products.ProductDiscontinued"]


@pytest.mark.parametrize(
    ("changes", "code", "attr"),
    [
        ({"price": "-1.00"}, "min_value", "price"),
        ({"price": "abc"}, "invalid", "price"),
        ({"price": "1e2"}, "invalid", "price"),  # DRF read it as 100
        ({"price": "1.999"}, "max_decimal_places", "price"),
        ({"price": None}, "null", "price"),
        ({"sku": "TAKEN-1"}, "duplicate_sku", "sku"),
        ({"category": "nope"}, "unknown_category", "category"),
        ({"name": ""}, "blank", "name"),
        ({"name": "   "}, "blank", "name"),
        ({"status": "sold"}, "invalid_choice", "status"),
        ({"initial_stock": -3}, "min_value", "initial_stock"),
        ({"initial_stock": "1_0"}, "invalid", "initial_stock"),  # DRF read it as 10
        ({"slug": "taken"}, "duplicate_slug", "slug"),
    ],
)
def test_bad_input_on_create_is_a_400_and_changes_nothing(
    staff_api: APIClient, changes: dict[str, Any], code: str, attr: str
) -> None:
    ProductFactory(sku="TAKEN-1", slug="taken")

    response = staff_api.post("/api/v1/products/", {**NEW_PRODUCT, **changes})

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert [(e["code"], e["attr"]) for e in body["errors"]] == [(code, attr)]
    assert list(Product.objects.values_list("sku", flat=True)) == ["TAKEN-1"]
    assert product_events() == []


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_lone_surrogate_in_a_choice_is_a_400_and_changes_nothing(
    staff_api: APIClient, method: str
) -> None:
    # Valid JSON; the choice field's error repeats the value, which no response could encode.
    product = ProductFactory(sku="TAKEN-1", name="Kettle")
    url = "/api/v1/products/" + (f"{product.pk}/" if method == "patch" else "")
    body = '{"sku": "NEW-1", "name": "New", "price": "1.00", "status": "\\ud800"}'

    response = getattr(staff_api, method)(url, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert list(Product.objects.values_list("sku", "name")) == [("TAKEN-1", "Kettle")]
    assert product_events() == []


def test_a_name_with_a_surrogate_pair_is_text_like_any_other(staff_api: APIClient) -> None:
    body = '{"sku": "MUG-1", "name": "Mug \\ud83d\\ude00", "price": "1.00"}'

    response = staff_api.post("/api/v1/products/", body, content_type="application/json")

    assert response.status_code == 201
    assert Product.objects.get().name == "Mug \U0001f600"


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_field_the_write_does_not_take_is_a_400_not_ignored(
    staff_api: APIClient, method: str
) -> None:
    product = ProductFactory(sku="TAKEN-1", name="Kettle")
    url = "/api/v1/products/" + (f"{product.pk}/" if method == "patch" else "")
    body = (
        {"name": "Kettle", "colour": "red"}
        if method == "patch"
        else {**NEW_PRODUCT, "colour": "red"}
    )

    response = getattr(staff_api, method)(url, body, format="json")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["attr"]) == ("unknown_field", "colour")
    assert "it takes: " in error["detail"]
    assert list(Product.objects.values_list("sku", "name")) == [("TAKEN-1", "Kettle")]
    assert product_events() == []


def test_a_patch_of_the_product_as_read_with_one_field_edited_is_applied(
    staff_api: APIClient,
) -> None:
    product = ProductFactory(sku="K-1", name="Kettle")
    url = f"/api/v1/products/{product.pk}/"
    as_read = staff_api.get(url).json()

    response = staff_api.patch(
        url, {**as_read, "sku": " K-1 ", "name": "Electric Kettle"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert Product.objects.get().name == "Electric Kettle"


@pytest.mark.parametrize(
    "change",
    [
        {"sku": "K-2"},
        {"sku": None},
        {"currency": "USD"},
        {"available_quantity": 50},
        {"in_stock": True},  # it has no stock
    ],
    ids=["sku", "sku null", "currency", "available quantity", "in stock"],
)
def test_a_patch_changing_a_field_only_shown_is_a_400_not_ignored(
    staff_api: APIClient, change: dict[str, Any]
) -> None:
    # It answered 200 with nothing changed ({"price": ..., "currency": "USD"}: a price in EUR).
    product = ProductFactory(sku="K-1", name="Kettle")

    response = staff_api.patch(
        f"/api/v1/products/{product.pk}/", {**change, "name": "Pot"}, format="json"
    )

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("read_only", *change)]
    assert list(Product.objects.values_list("sku", "name")) == [("K-1", "Kettle")]
    assert product_events() == []


def test_a_missing_price_is_required(staff_api: APIClient) -> None:
    response = staff_api.post("/api/v1/products/", {"sku": "A", "name": "A"})

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("required", "price")]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("patch", "/", {"name": "X"}), ("post", "/discontinue", {})],
)
def test_writes_to_an_unknown_product_are_404(
    staff_api: APIClient, method: str, suffix: str, body: dict[str, Any]
) -> None:
    response = getattr(staff_api, method)(f"/api/v1/products/{uuid4()}{suffix}", body)

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def _writes(product_id: object) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("post", "/api/v1/products/", NEW_PRODUCT),
        ("patch", f"/api/v1/products/{product_id}/", {"price": "1.00"}),
        ("post", f"/api/v1/products/{product_id}/discontinue", {}),
    ]


def test_shoppers_may_not_write(user_api: APIClient) -> None:
    product = ProductFactory(price=Decimal("30.00"))

    for method, url, body in _writes(product.pk):
        response = getattr(user_api, method)(url, body)
        assert response.status_code == 403, url
        assert response.json()["errors"][0]["code"] == "permission_denied"

    product.refresh_from_db()
    assert (product.price, product.status, Product.objects.count()) == (
        Decimal("30.00"),
        "active",
        1,
    )
    assert product_events() == []


@pytest.mark.parametrize(
    ("write", "permission"),
    [(0, "products.add_product"), (1, "products.change_product"), (2, "products.change_product")],
)
def test_staff_write_only_with_the_permission_the_admin_asks_for(
    bare_staff_api: APIClient, write: int, permission: str
) -> None:
    product = ProductFactory(price=Decimal("30.00"))
    method, url, body = _writes(product.pk)[write]

    response = getattr(bare_staff_api, method)(url, body)

    assert response.status_code == 403
    assert response.json()["errors"] == [
        {
            "code": "permission_denied",
            "detail": f"This needs the {permission} permission.",
            "attr": None,
        }
    ]
    product.refresh_from_db()
    assert (product.price, product.status, Product.objects.count()) == (
        Decimal("30.00"),
        "active",
        1,
    )
    assert product_events() == []


def test_anonymous_clients_are_asked_to_sign_in(api: APIClient) -> None:
    product = ProductFactory()

    for method, url, body in _writes(product.pk):
        response = getattr(api, method)(url, body)
        assert response.status_code == 401, url
        assert response.json()["errors"][0]["code"] == "not_authenticated"
    assert product_events() == []
