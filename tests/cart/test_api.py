"""The cart API: shapes, ownership (404, never 403), bad input, and idempotent checkout."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.cart.models import Cart, CartLine
from apps.inventory import services as inventory
from apps.products import services as products
from ecommerce.accounts.models import User
from ecommerce.core.models import IdempotencyKey
from tests.cart.factories import make_product

pytestmark = pytest.mark.django_db

AnonApi = Callable[[str], APIClient]


def new_cart(client: APIClient) -> dict[str, Any]:
    response = client.post("/api/v1/carts/")
    assert response.status_code == 201
    return response.json()


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def signed_in_holding(user: User, token: str) -> APIClient:
    """A signed-in shopper's client that also sends an anonymous cart's token."""
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_X_CART_TOKEN=token)
    return client


@pytest.fixture
def shopper(api: APIClient, anon_api: AnonApi) -> tuple[APIClient, dict[str, Any]]:
    """An anonymous shopper's client (sending its token) and their new cart."""
    cart = new_cart(api)
    return anon_api(cart["token"]), cart


def test_creating_a_cart_returns_it_with_its_token(api: APIClient) -> None:
    body = new_cart(api)

    assert set(body) >= {"id", "token", "status", "items", "total", "currency"}
    assert (body["status"], body["items"], body["total"], body["currency"]) == (
        "open",
        [],
        "0.00",
        "EUR",
    )
    assert Cart.objects.get().owner_id is None


def test_a_signed_in_shopper_gets_their_own_cart(
    user_api: APIClient, api: APIClient, anon_api: AnonApi
) -> None:
    body = new_cart(user_api)

    assert user_api.get(f"/api/v1/carts/{body['id']}/").status_code == 200
    # Their cart is theirs: the token alone does not open it.
    assert anon_api(body["token"]).get(f"/api/v1/carts/{body['id']}/").status_code == 404


def test_the_shopping_flow_through_the_api(shopper: tuple[APIClient, dict[str, Any]]) -> None:
    client, cart = shopper
    mug = make_product(price="4.50", stock=10, name="Mug")

    added = client.post(
        f"/api/v1/carts/{cart['id']}/items", {"product_id": str(mug.id), "quantity": 2}
    )
    assert added.status_code == 201
    [item] = added.json()["items"]
    assert {k: item[k] for k in ("product_id", "sku", "name", "unit_price", "quantity")} == {
        "product_id": str(mug.id),
        "sku": mug.sku,
        "name": "Mug",
        "unit_price": "4.50",
        "quantity": 2,
    }
    assert (item["line_total"], added.json()["total"]) == ("9.00", "9.00")
    assert "token" not in added.json()

    changed = client.patch(f"/api/v1/carts/{cart['id']}/items/{item['id']}", {"quantity": 3})
    assert changed.status_code == 200
    assert changed.json()["total"] == "13.50"

    fetched = client.get(f"/api/v1/carts/{cart['id']}/")
    assert fetched.status_code == 200
    assert fetched.json() == changed.json()

    removed = client.delete(f"/api/v1/carts/{cart['id']}/items/{item['id']}")
    assert removed.status_code == 200
    assert (removed.json()["items"], removed.json()["total"]) == ([], "0.00")


# -- ownership ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "/", None),
        ("post", "/items", {"product_id": "PRODUCT", "quantity": 1}),
        ("patch", "/items/ITEM", {"quantity": 2}),
        ("delete", "/items/ITEM", None),
        ("post", "/checkout", {"email": "a@example.com", "payment_token": "tok_ok"}),
    ],
)
def test_without_the_token_or_as_someone_else_every_cart_url_is_404(
    shopper: tuple[APIClient, dict[str, Any]],
    api: APIClient,
    anon_api: AnonApi,
    user_api: APIClient,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    client, cart = shopper
    mug = make_product(stock=10)
    item = client.post(
        f"/api/v1/carts/{cart['id']}/items", {"product_id": str(mug.id), "quantity": 1}
    ).json()["items"][0]
    url = f"/api/v1/carts/{cart['id']}{suffix.replace('ITEM', item['id'])}"
    if body and body.get("product_id"):
        body = {**body, "product_id": str(mug.id)}

    for stranger in (api, anon_api("a-guessed-token"), user_api):
        response = getattr(stranger, method)(url, body)
        assert response.status_code == 404, (stranger, response.content)
        assert response.json() == {
            "type": "client_error",
            "errors": [{"code": "not_found", "detail": "No cart with this id.", "attr": None}],
        }

    assert CartLine.objects.get().quantity == 1
    assert Cart.objects.get().status == "open"


def test_an_unknown_cart_or_malformed_id_is_404(anon_api: AnonApi) -> None:
    client = anon_api("whatever")

    assert client.get(f"/api/v1/carts/{uuid4()}/").status_code == 404
    assert client.get("/api/v1/carts/not-a-uuid/").status_code == 404


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "attr"),
    [
        ({"product_id": "PRODUCT", "quantity": 0}, 400, "min_value", "quantity"),
        ({"product_id": "PRODUCT", "quantity": -2}, 400, "min_value", "quantity"),
        ({"product_id": "PRODUCT", "quantity": 101}, 400, "max_value", "quantity"),
        ({"product_id": "PRODUCT", "quantity": 1.5}, 400, "invalid", "quantity"),
        ({"product_id": "PRODUCT", "quantity": 2.0}, 400, "invalid", "quantity"),
        ({"product_id": "PRODUCT", "quantity": "two"}, 400, "invalid", "quantity"),
        ({"product_id": "PRODUCT", "quantity": True}, 400, "invalid", "quantity"),
        ({"product_id": "PRODUCT", "quantity": "\u0661"}, 400, "invalid", "quantity"),  # Arabic 1
        ({"product_id": "PRODUCT", "quantity": "1_0"}, 400, "invalid", "quantity"),
        ({"product_id": "PRODUCT"}, 400, "required", "quantity"),
        ({"product_id": "nope", "quantity": 1}, 400, "invalid", "product_id"),
        ({"product_id": str(uuid4()), "quantity": 1}, 404, "not_found", None),
        ({"product_id": "PRODUCT", "quantity": 11}, 409, "out_of_stock", "PRODUCT"),
        ({"product_id": "DISCONTINUED", "quantity": 1}, 409, "product_unavailable", "product_id"),
        ({"product_id": "DRAFT", "quantity": 1}, 404, "not_found", None),
    ],
)
def test_a_bad_item_is_refused_with_a_specific_code_and_nothing_changes(
    shopper: tuple[APIClient, dict[str, Any]],
    body: dict[str, Any],
    status: int,
    code: str,
    attr: str | None,
) -> None:
    client, cart = shopper
    ids = {
        "PRODUCT": make_product(stock=10).id,
        "DISCONTINUED": make_product(stock=10).id,
        "DRAFT": make_product(stock=10, status="draft").id,
    }
    products.product_discontinue(product_id=ids["DISCONTINUED"])
    body = {k: str(ids.get(v, v)) if k == "product_id" else v for k, v in body.items()}

    response = client.post(f"/api/v1/carts/{cart['id']}/items", body, format="json")

    assert response.status_code == status, response.content
    assert response.json()["errors"][0]["code"] == code
    # A shortage names the product it is about.
    assert response.json()["errors"][0]["attr"] == (
        str(ids["PRODUCT"]) if attr == "PRODUCT" else attr
    )
    assert not CartLine.objects.exists()


def test_a_field_a_cart_change_does_not_take_is_a_400_and_changes_nothing(
    shopper: tuple[APIClient, dict[str, Any]],
) -> None:
    client, cart = shopper
    mug, kettle = make_product(stock=10), make_product(stock=10)
    items = f"/api/v1/carts/{cart['id']}/items"

    add = client.post(items, {"product_id": str(mug.id), "quantity": 1, "unit_price": "0.01"})
    line = client.post(items, {"product_id": str(mug.id), "quantity": 1}).json()["items"][0]
    change = client.patch(
        f"{items}/{line['id']}", {"quantity": 2, "product_id": str(kettle.id)}, format="json"
    )
    checkout = client.post(
        f"/api/v1/carts/{cart['id']}/checkout",
        {"email": "ann@example.com", "payment_token": "tok_ok", "total": "0.01"},
        format="json",
    )

    for response, field in ((add, "unit_price"), (change, "product_id"), (checkout, "total")):
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert (error["code"], error["attr"]) == ("unknown_field", field)
    assert list(CartLine.objects.values_list("product_id", "quantity", "unit_price")) == [
        (mug.id, 1, mug.price)
    ]
    assert client.get(f"/api/v1/carts/{cart['id']}/").json()["status"] == "open"


def test_a_form_with_its_csrf_token_adds_as_json_does(
    shopper: tuple[APIClient, dict[str, Any]],
) -> None:
    # The browsable API's form (session auth) sends its CSRF token as a field.
    client, cart = shopper
    mug = make_product(stock=10)

    response = client.post(
        f"/api/v1/carts/{cart['id']}/items",
        {"product_id": str(mug.id), "quantity": 1, "csrfmiddlewaretoken": "x" * 32},
        format="multipart",
    )

    assert response.status_code == 201, response.content


def test_a_body_that_is_not_an_object_is_400(shopper: tuple[APIClient, dict[str, Any]]) -> None:
    client, cart = shopper

    response = client.post(f"/api/v1/carts/{cart['id']}/items", [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"


@pytest.mark.parametrize(
    ("body", "code", "attr"),
    [
        ({"payment_token": "tok_ok"}, "required", "email"),
        ({"email": "ann@example.com"}, "required", "payment_token"),
        ({"email": "not-an-email", "payment_token": "tok_ok"}, "invalid", "email"),
        ({"email": "x@" + "\u00fc" * 63 + ".com", "payment_token": "tok_ok"}, "invalid", "email"),
        ({"email": "ann@example.com", "payment_token": ""}, "blank", "payment_token"),
        ({"email": "ann@example.com", "payment_token": "t" * 101}, "max_length", "payment_token"),
    ],
)
def test_bad_checkout_details_are_400_and_nothing_is_reserved(
    shopper: tuple[APIClient, dict[str, Any]], body: dict[str, str], code: str, attr: str
) -> None:
    client, cart = shopper
    mug = make_product(stock=10)
    client.post(f"/api/v1/carts/{cart['id']}/items", {"product_id": str(mug.id), "quantity": 1})

    response = client.post(f"/api/v1/carts/{cart['id']}/checkout", body, HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 400
    assert (error_code(response), response.json()["errors"][0]["attr"]) == (code, attr)
    assert Cart.objects.get().status == "open"
    assert inventory.stock_get(product_id=mug.id).reserved == 0
    assert not IdempotencyKey.objects.exists()


def test_an_empty_cart_is_409_cart_empty(shopper: tuple[APIClient, dict[str, Any]]) -> None:
    client, cart = shopper

    response = client.post(
        f"/api/v1/carts/{cart['id']}/checkout",
        {"email": "ann@example.com", "payment_token": "tok_ok"},
    )

    assert (response.status_code, error_code(response)) == (409, "cart_empty")


# -- checkout and its Idempotency-Key ---------------------------------------------------------


def checkout(client: APIClient, cart_id: str, key: str | None, **body: str) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    payload = {"email": "ann@example.com", "payment_token": "tok_ok", **body}
    return client.post(f"/api/v1/carts/{cart_id}/checkout", payload, **headers)


@pytest.fixture
def filled(
    shopper: tuple[APIClient, dict[str, Any]],
) -> tuple[APIClient, str, products.ProductDTO]:
    client, cart = shopper
    mug = make_product(price="4.50", stock=10)
    client.post(f"/api/v1/carts/{cart['id']}/items", {"product_id": str(mug.id), "quantity": 2})
    return client, cart["id"], mug


def test_adding_repeated_with_its_key_adds_once(
    shopper: tuple[APIClient, dict[str, Any]],
) -> None:
    client, cart = shopper
    mug = make_product(stock=10)
    url = f"/api/v1/carts/{cart['id']}/items"
    body = {"product_id": str(mug.id), "quantity": 2}

    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="add-mug")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="add-mug")
    other = client.post(url, {**body, "quantity": 3}, format="json", HTTP_IDEMPOTENCY_KEY="add-mug")
    unkeyed = client.post(url, body, format="json")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert (other.status_code, error_code(other)) == (409, "idempotency_key_reused")
    assert unkeyed.json()["items"][0]["quantity"] == 4  # without a key, each add adds
    assert CartLine.objects.get().quantity == 4


def test_checkout_is_accepted_with_the_stock_reserved(
    filled: tuple[APIClient, str, products.ProductDTO],
) -> None:
    client, cart_id, mug = filled

    response = checkout(client, cart_id, "k-1")

    assert response.status_code == 202
    body = response.json()
    assert (body["id"], body["status"], body["total"], body["currency"], body["email"]) == (
        cart_id,
        "checked_out",
        "9.00",
        "EUR",
        "ann@example.com",
    )
    assert inventory.stock_get(product_id=mug.id).reserved == 2


def test_the_same_checkout_repeated_with_its_key_is_answered_once(
    filled: tuple[APIClient, str, products.ProductDTO],
) -> None:
    client, cart_id, mug = filled

    first = checkout(client, cart_id, "k-1")
    again = checkout(client, cart_id, "k-1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert inventory.stock_get(product_id=mug.id).reserved == 2
    assert inventory.reservation_get(reference=Cart.objects.get().id).lines[0].quantity == 2


def test_the_same_key_with_another_body_is_409(
    filled: tuple[APIClient, str, products.ProductDTO],
) -> None:
    client, cart_id, _ = filled
    checkout(client, cart_id, "k-1")

    response = checkout(client, cart_id, "k-1", email="bob@example.com")

    assert (response.status_code, error_code(response)) == (409, "idempotency_key_reused")
    assert Cart.objects.get().email == "ann@example.com"


def test_a_second_checkout_with_a_new_key_is_409_cart_not_open(
    filled: tuple[APIClient, str, products.ProductDTO],
) -> None:
    client, cart_id, mug = filled
    checkout(client, cart_id, "k-1")

    response = checkout(client, cart_id, "k-2")

    assert (response.status_code, error_code(response)) == (409, "cart_not_open")
    assert inventory.stock_get(product_id=mug.id).reserved == 2


def test_out_of_stock_at_checkout_keeps_the_cart_open_and_the_key_free(
    filled: tuple[APIClient, str, products.ProductDTO],
) -> None:
    client, cart_id, mug = filled
    inventory.stock_adjust(product_id=mug.id, delta=-9, reason="count correction")

    refused = checkout(client, cart_id, "k-1")

    assert (refused.status_code, error_code(refused)) == (409, "out_of_stock")
    assert Cart.objects.get().status == "open"
    assert inventory.stock_get(product_id=mug.id).reserved == 0
    # The shopper takes fewer and retries with the same key: it runs this time.
    item_id = client.get(f"/api/v1/carts/{cart_id}/").json()["items"][0]["id"]
    client.patch(f"/api/v1/carts/{cart_id}/items/{item_id}", {"quantity": 1})
    assert checkout(client, cart_id, "k-1").status_code == 202


def test_signing_in_before_checkout_makes_the_order_the_shoppers(
    shopper: tuple[APIClient, dict[str, Any]], make_user: Callable[..., User]
) -> None:
    anonymous, cart = shopper
    mug = make_product(stock=10)
    anonymous.post(f"/api/v1/carts/{cart['id']}/items", {"product_id": str(mug.id), "quantity": 1})
    user = make_user("ann@example.com")
    signed_in = signed_in_holding(user, cart["token"])

    assert checkout(signed_in, cart["id"], "k-1").status_code == 202

    assert Cart.objects.get().owner_id == user.pk
    assert signed_in.get(f"/api/v1/carts/{cart['id']}/").json()["status"] == "checked_out"
    assert anonymous.get(f"/api/v1/carts/{cart['id']}/").status_code == 404


@pytest.mark.parametrize("signs_in", ["before the retry", "before the first try"])
def test_a_retry_with_the_key_is_answered_once_across_signing_in_or_out(
    shopper: tuple[APIClient, dict[str, Any]], make_user: Callable[..., User], signs_in: str
) -> None:
    anonymous, cart = shopper
    mug = make_product(stock=10)
    anonymous.post(f"/api/v1/carts/{cart['id']}/items", {"product_id": str(mug.id), "quantity": 1})
    signed_in = signed_in_holding(make_user("ann@example.com"), cart["token"])
    first, retry = (
        (anonymous, signed_in) if signs_in == "before the retry" else (signed_in, anonymous)
    )

    answered = checkout(first, cart["id"], "k-1")
    again = checkout(retry, cart["id"], "k-1")

    assert (answered.status_code, again.status_code) == (202, 202)
    assert again.json() == answered.json()
    assert again["Idempotent-Replayed"] == "true"
    assert inventory.stock_get(product_id=mug.id).reserved == 1


# -- claim ------------------------------------------------------------------------------------


def test_a_shopper_who_signs_in_claims_their_cart(
    shopper: tuple[APIClient, dict[str, Any]], make_user: Callable[..., User]
) -> None:
    _, cart = shopper
    user = make_user("ann@example.com")
    signed_in = signed_in_holding(user, cart["token"])

    response = signed_in.post(f"/api/v1/carts/{cart['id']}/claim")

    assert (response.status_code, response.json()["id"]) == (200, cart["id"])
    assert Cart.objects.get().owner_id == user.pk


def test_claiming_needs_a_signed_in_user(shopper: tuple[APIClient, dict[str, Any]]) -> None:
    client, cart = shopper

    response = client.post(f"/api/v1/carts/{cart['id']}/claim")

    assert (response.status_code, error_code(response)) == (401, "not_authenticated")
    assert Cart.objects.get().owner_id is None


def test_reading_a_cart_through_the_api_takes_a_fixed_number_of_queries(
    shopper: tuple[APIClient, dict[str, Any]],
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client, cart = shopper
    for _ in range(3):
        product = make_product(stock=5, price=str(Decimal("1.25")))
        client.post(
            f"/api/v1/carts/{cart['id']}/items", {"product_id": str(product.id), "quantity": 1}
        )

    with django_assert_num_queries(2):
        response = client.get(f"/api/v1/carts/{cart['id']}/")

    assert response.json()["total"] == "3.75"


def test_the_fast_cart_body_renders_exactly_what_the_documented_serializer_does() -> None:
    from datetime import UTC, datetime

    from apps.cart.api.views import CartCreateView, CartOutputSerializer, cart_body
    from apps.cart.services import CartDTO, CartLineDTO

    line = CartLineDTO(
        id=uuid4(),
        product_id=uuid4(),
        sku="SKU-1",
        name="Kettle",
        unit_price=Decimal("19.9"),
        quantity=3,
        line_total=Decimal("59.70"),
    )
    open_cart = CartDTO(
        id=uuid4(),
        owner_id=None,
        status=Cart.Status.OPEN,
        currency="EUR",
        items=(line, line),
        total=Decimal("119.4"),
        email="",
        payment_id=None,
        failure_code="",
        checked_out_at=None,
        created_at=datetime(2026, 1, 1, 9, 30, 15, 123456, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, tzinfo=UTC),
        token="secret",
    )
    paid_cart = CartDTO(
        id=uuid4(),
        owner_id=uuid4(),
        status="paid",
        currency="EUR",
        items=(),
        total=Decimal(0),
        email="ann@example.com",
        payment_id=uuid4(),
        failure_code="",
        checked_out_at=datetime(2026, 1, 3, 8, tzinfo=UTC),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 3, 8, 0, 1, tzinfo=UTC),
    )

    for cart in (open_cart, paid_cart):
        assert cart_body(cart) == CartOutputSerializer(cart).data
    assert {
        **cart_body(open_cart),
        "token": "secret",
    } == CartCreateView.CartCreateOutputSerializer(open_cart).data


# Savepoints included: the test runs in a transaction, so the checkout's all-or-nothing
# transaction is a savepoint (the use cases inside take none of their own). PostgreSQL
# publishes an event in one statement where SQLite takes two, and writes the stock ledger row
# in the same statement as the stock; on both, a cart change and a checkout cost the same
# whatever else is in the shop.
QUERIES_TO_ADD_AND_CHECK_OUT = {"postgresql": (9, 14), "sqlite": (10, 18)}


def test_adding_and_checking_out_take_a_fixed_number_of_queries(
    shopper: tuple[APIClient, dict[str, Any]],
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client, cart = shopper
    product = make_product(stock=5, price="2.50")
    to_add, to_check_out = QUERIES_TO_ADD_AND_CHECK_OUT[connection.vendor]

    with django_assert_num_queries(to_add):
        added = client.post(
            f"/api/v1/carts/{cart['id']}/items", {"product_id": str(product.id), "quantity": 2}
        )
    with django_assert_num_queries(to_check_out):
        checked_out = client.post(
            f"/api/v1/carts/{cart['id']}/checkout",
            {"email": "ann@example.com", "payment_token": "tok_ok"},
            HTTP_IDEMPOTENCY_KEY="checkout-1",
        )

    assert (added.status_code, checked_out.status_code) == (201, 202)
    assert checked_out.json()["total"] == "5.00"
