"""The checkout scenarios, each run in every mode of tests/e2e/modes.py: as one process, and
with products and inventory over HTTP and events through Kafka to per-app consumers. One test
body, the same outcomes: splitting the shop is configuration, not a rewrite."""

from uuid import UUID

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.cart.models import Cart
from apps.inventory import services as inventory
from apps.inventory.models import Reservation, StockMovement
from apps.notifications.models import Notification, Subscription
from apps.payments.models import Payment
from apps.products import services as products
from ecommerce.accounts.models import User
from tests.cart.factories import make_product
from tests.e2e.modes import Shop

pytestmark = pytest.mark.django_db(transaction=True)


def add_to_new_cart(client: APIClient, product: products.ProductDTO, quantity: int) -> str:
    created = client.post("/api/v1/carts/")
    assert created.status_code == 201
    cart = created.json()
    if cart["token"]:
        client.credentials(HTTP_X_CART_TOKEN=cart["token"])
    added = client.post(
        f"/api/v1/carts/{cart['id']}/items", {"product_id": str(product.id), "quantity": quantity}
    )
    assert added.status_code == 201, added.content
    return str(cart["id"])


def checkout(client: APIClient, cart_id: str, payment_token: str) -> tuple[int, str]:
    response = client.post(
        f"/api/v1/carts/{cart_id}/checkout",
        {"email": "ann@example.com", "payment_token": payment_token},
        HTTP_IDEMPOTENCY_KEY=f"checkout-{cart_id}",
    )
    body = response.json()
    return response.status_code, body.get("status") or body["errors"][0]["code"]


def cart_state(cart_id: str) -> tuple[str, str]:
    cart = Cart.objects.get(pk=cart_id)
    return cart.status, cart.failure_code


def stock(product: products.ProductDTO) -> tuple[int, int, int]:
    s = inventory.stock_get(product_id=product.id)
    return s.on_hand, s.reserved, s.available


def ledger(cart_id: str) -> list[tuple[str, int, int]]:
    rows = StockMovement.objects.filter(reference=UUID(cart_id)).order_by("id")
    return [(m.kind, m.on_hand_delta, m.reserved_delta) for m in rows]


def test_a_paid_order_takes_the_units_off_the_shelf(shop: Shop, api: APIClient) -> None:
    mug = make_product(price="4.50", stock=10)
    cart_id = add_to_new_cart(api, mug, 3)

    assert checkout(api, cart_id, "tok_ok") == (202, "checked_out")

    shop.settle(lambda: cart_state(cart_id) == ("paid", "") and stock(mug)[1] == 0)
    payment = Payment.objects.get(cart_id=cart_id)
    assert (payment.status, str(payment.amount)) == ("succeeded", "13.50")
    assert stock(mug) == (7, 0, 7)
    assert ledger(cart_id) == [("reservation", 0, 3), ("commit", -3, -3)]
    shop.settle(
        lambda: (
            sorted(Notification.objects.filter(email="ann@example.com").values_list("kind"))
            == [("order_received",), ("payment_confirmed",)]
        )
    )


def test_a_declined_payment_puts_the_stock_back(shop: Shop, api: APIClient) -> None:
    mug = make_product(stock=10)
    cart_id = add_to_new_cart(api, mug, 4)

    assert checkout(api, cart_id, "tok_declined") == (202, "checked_out")

    shop.settle(lambda: cart_state(cart_id)[0] == "payment_failed" and stock(mug)[1] == 0)
    assert cart_state(cart_id) == ("payment_failed", "payment_declined")
    payment = Payment.objects.get(cart_id=cart_id)
    assert (payment.status, payment.failure_code) == ("failed", "payment_declined")
    assert stock(mug) == (10, 0, 10)
    assert ledger(cart_id) == [("reservation", 0, 4), ("release", 0, -4)]


@pytest.mark.parametrize("left_behind", ["active", "expired"])
def test_a_checkout_retried_after_an_interrupted_one_places_the_order_for_the_cart_as_it_is(
    shop: Shop, api: APIClient, left_behind: str
) -> None:
    """With inventory apart, a checkout can reserve the stock and fail before the cart records
    it (docs/SPLITTING.md); here the reservation is made for the cart directly. The cart
    changed since, or the reservation ran out (its expiry reaching the cart maybe only after
    the retry): the retry renews it and the order goes through."""
    mug = make_product(stock=5)
    cart_id = add_to_new_cart(api, mug, 2)
    inventory.reservation_create(
        reference=UUID(cart_id), lines=[inventory.ReservationLineIn(product_id=mug.id, quantity=1)]
    )
    if left_behind == "expired":
        Reservation.objects.filter(reference=cart_id).update(expires_at=timezone.now())
        assert inventory.reservations_expire_due() == 1

    assert checkout(api, cart_id, "tok_ok") == (202, "checked_out")

    shop.settle(lambda: cart_state(cart_id) == ("paid", "") and stock(mug)[1] == 0)
    assert stock(mug) == (3, 0, 3)
    given_back = ("release", 0, -1) if left_behind == "active" else ("expiry", 0, -1)
    assert ledger(cart_id) == [
        ("reservation", 0, 1),
        given_back,
        ("reservation", 0, 2),
        ("commit", -2, -2),
    ]
    assert Payment.objects.get(cart_id=cart_id).status == "succeeded"


def test_the_second_shopper_for_the_last_units_is_told_out_of_stock(
    shop: Shop, api: APIClient
) -> None:
    lamp = make_product(stock=3)
    first, second = APIClient(), APIClient()
    first_cart, second_cart = add_to_new_cart(first, lamp, 2), add_to_new_cart(second, lamp, 2)
    assert checkout(first, first_cart, "tok_ok") == (202, "checked_out")

    response = second.post(
        f"/api/v1/carts/{second_cart}/checkout",
        {"email": "bo@example.com", "payment_token": "tok_ok"},
    )

    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "out_of_stock",
            "detail": f"Only 1 of {lamp.sku} available, 2 wanted.",
            "attr": str(lamp.id),
        }
    ]
    assert cart_state(second_cart) == ("open", "")
    assert ledger(second_cart) == []
    shop.settle(lambda: cart_state(first_cart) == ("paid", "") and stock(lamp)[1] == 0)
    assert stock(lamp) == (1, 0, 1)
    assert not Payment.objects.filter(cart_id=second_cart).exists()


def test_a_discontinued_product_leaves_open_carts_and_the_shopper_is_told(
    shop: Shop, user_api: APIClient
) -> None:
    mug, tea = make_product(stock=5), make_product(stock=5)
    cart_id = add_to_new_cart(user_api, mug, 1)
    assert (
        user_api.post(
            f"/api/v1/carts/{cart_id}/items", {"product_id": str(tea.id), "quantity": 2}
        ).status_code
        == 201
    )

    products.product_discontinue(product_id=mug.id)  # staff, in the products service

    def items() -> list[tuple[str, int]]:
        body = user_api.get(f"/api/v1/carts/{cart_id}/").json()
        return [(item["product_id"], item["quantity"]) for item in body["items"]]

    shop.settle(lambda: items() == [(str(tea.id), 2)])
    shop.settle(lambda: Notification.objects.filter(kind="item_discontinued").exists())
    shopper = User.objects.get(email="shopper@example.com")
    assert sorted(
        Notification.objects.filter(kind="item_discontinued").values_list("channel", "user_id")
    ) == [("email", shopper.pk), ("in_app", shopper.pk)]
    assert (
        user_api.post(
            f"/api/v1/carts/{cart_id}/items", {"product_id": str(mug.id), "quantity": 1}
        ).json()["errors"][0]["code"]
        == "product_unavailable"
    )


def test_a_shopper_waiting_for_a_product_hears_when_it_is_back_in_stock(
    shop: Shop, user_api: APIClient
) -> None:
    kettle = make_product(price="30.00", stock=0, name="Kettle")
    subscribed = user_api.post(
        "/api/v1/notifications/subscriptions",
        {"product_id": str(kettle.id), "kind": "back_in_stock"},
    )
    assert subscribed.status_code == 201, subscribed.content
    # Inventory starts keeping stock for a new product when it hears of it.
    shop.settle(lambda: kettle.id in inventory.stock_get_many(product_ids=[kettle.id]))

    inventory.stock_adjust(product_id=kettle.id, delta=4, reason="delivery")  # staff

    shop.settle(lambda: Subscription.objects.filter(fulfilled_at__isnull=False).exists())
    [alert] = Notification.objects.filter(kind="back_in_stock", channel="in_app")
    assert (alert.context["name"], alert.context["price"], alert.context["available"]) == (
        "Kettle",
        "30.00",
        4,
    )
    assert [n["kind"] for n in user_api.get("/api/v1/notifications/").json()["results"]] == [
        "back_in_stock"
    ]
