"""The order flow end to end, through the API, with the bus delivering as in production:
cart -> inventory (reserve) -> payments (charge) -> inventory (commit/release) and cart
(paid/failed). Deliveries are eager unless a test stops the relay. The paid and declined
orders themselves are in test_split_mode.py, run as one process and as services apart.
"""

import threading
from typing import Any
from uuid import UUID

import pytest
from django.core.management import call_command
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from apps.cart.models import Cart
from apps.inventory import services as inventory
from apps.inventory.models import Reservation, StockMovement
from apps.payments import services as payments
from apps.products import services as products
from ecommerce.bus.models import OutboxEvent
from ecommerce.bus.relay import Relay
from tests.cart.factories import make_product
from tests.payments.conftest import run_charge_retries_inline

pytestmark = pytest.mark.django_db(transaction=True)


def shop(client: APIClient, product: products.ProductDTO, quantity: int) -> tuple[str, str]:
    """Create a cart holding ``quantity`` of ``product``: (cart id, token). The client sends
    the token from now on."""
    created = client.post("/api/v1/carts/")
    assert created.status_code == 201
    cart = created.json()
    client.credentials(HTTP_X_CART_TOKEN=cart["token"])
    added = client.post(
        f"/api/v1/carts/{cart['id']}/items", {"product_id": str(product.id), "quantity": quantity}
    )
    assert added.status_code == 201, added.content
    return str(cart["id"]), str(cart["token"])


def checkout(client: APIClient, cart_id: str, token: str, key: str = "checkout-1") -> Any:
    return client.post(
        f"/api/v1/carts/{cart_id}/checkout",
        {"email": "ann@example.com", "payment_token": token},
        HTTP_IDEMPOTENCY_KEY=key,
    )


def status_of(client: APIClient, cart_id: str) -> str:
    return str(client.get(f"/api/v1/carts/{cart_id}/").json()["status"])


def ledger(cart_id: str) -> list[tuple[str, int, int]]:
    rows = StockMovement.objects.filter(reference=UUID(cart_id)).order_by("id")
    return [(m.kind, m.on_hand_delta, m.reserved_delta) for m in rows]


def stock(product: products.ProductDTO) -> tuple[int, int, int]:
    s = inventory.stock_get(product_id=product.id)
    return s.on_hand, s.reserved, s.available


def test_a_flaky_gateway_is_retried_until_the_order_is_paid(api: APIClient) -> None:
    mug = make_product(stock=10)
    cart_id, _ = shop(api, mug, 1)

    assert checkout(api, cart_id, "tok_flaky").status_code == 202
    assert status_of(api, cart_id) == "checked_out"  # the first charge timed out

    for _ in range(5):
        if status_of(api, cart_id) != "checked_out":
            break
        run_charge_retries_inline()

    assert status_of(api, cart_id) == "paid"
    [payment] = payments.payment_list_for_cart(cart_id=UUID(cart_id))
    assert (payment.status, payment.attempts) == ("succeeded", 3)
    assert stock(mug) == (9, 0, 9)


def test_the_same_checkout_sent_again_reserves_and_charges_once(api: APIClient) -> None:
    mug = make_product(stock=10)
    cart_id, _ = shop(api, mug, 2)

    first = checkout(api, cart_id, "tok_ok", key="the-key")
    again = checkout(api, cart_id, "tok_ok", key="the-key")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert Reservation.objects.filter(reference=UUID(cart_id)).count() == 1
    assert len(payments.payment_list_for_cart(cart_id=UUID(cart_id))) == 1
    assert stock(mug) == (8, 0, 8)
    assert ledger(cart_id) == [("reservation", 0, 2), ("commit", -2, -2)]


def test_an_order_completes_once_when_the_relay_was_stopped_after_checkout(
    api: APIClient, settings: SettingsWrapper
) -> None:
    mug = make_product(stock=10)
    cart_id, _ = shop(api, mug, 2)
    settings.BUS_EAGER = False  # the relay is down

    assert checkout(api, cart_id, "tok_ok").status_code == 202
    assert status_of(api, cart_id) == "checked_out"
    assert payments.payment_list_for_cart(cart_id=UUID(cart_id)) == []
    assert stock(mug) == (10, 2, 8)

    Relay().drain()  # the relay is back
    Relay().drain()
    # An operator replays the checkout to payments by mistake: still one payment, one charge.
    call_command("replay_events", "--subscriber", "payments.start_payment", stdout=None)
    Relay().drain()

    assert status_of(api, cart_id) == "paid"
    assert len(payments.payment_list_for_cart(cart_id=UUID(cart_id))) == 1
    assert stock(mug) == (8, 0, 8)
    assert ledger(cart_id) == [("reservation", 0, 2), ("commit", -2, -2)]
    assert (
        OutboxEvent.objects.filter(event_type="payments.PaymentSucceeded").count(),
        OutboxEvent.objects.filter(event_type="cart.CartPaid").count(),
    ) == (1, 1)


@pytest.mark.postgres
def test_thirty_shoppers_racing_for_the_last_five_units_buy_exactly_five() -> None:
    hot = make_product(price="9.99", stock=5)
    clients = [APIClient() for _ in range(30)]
    carts = [shop(client, hot, 1)[0] for client in clients]
    start = threading.Barrier(len(clients))
    outcomes: list[tuple[int, str]] = []

    def shopper(client: APIClient, cart_id: str) -> None:
        try:
            start.wait()
            response = checkout(client, cart_id, "tok_ok")
            code = response.json()["status"] if response.status_code == 202 else None
            outcomes.append((response.status_code, code or response.json()["errors"][0]["code"]))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=shopper, args=(c, cart_id))
        for c, cart_id in zip(clients, carts, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == [(202, "checked_out")] * 5 + [(409, "out_of_stock")] * 25
    assert stock(hot) == (0, 0, 0)
    assert Cart.objects.filter(status="paid").count() == 5
    assert Cart.objects.filter(status="open").count() == 25
    # Every unit is accounted for: five reservations of one, each committed, nothing else.
    assert sorted(Reservation.objects.values_list("status", flat=True)) == ["committed"] * 5
    moved = StockMovement.objects.filter(product_id=hot.id)
    assert sum(m.on_hand_delta for m in moved) == 0
    assert sum(m.reserved_delta for m in moved) == 0
    assert sorted(m.kind for m in moved if m.reference) == ["commit"] * 5 + ["reservation"] * 5


@pytest.mark.postgres
def test_a_checkout_sent_twice_at_once_with_its_key_runs_once() -> None:
    mug = make_product(stock=10)
    client = APIClient()
    cart_id, token = shop(client, mug, 2)
    start = threading.Barrier(2)
    answers: list[Any] = []

    def send() -> None:
        try:
            twin = APIClient()
            twin.credentials(HTTP_X_CART_TOKEN=token)
            start.wait()
            answers.append(checkout(twin, cart_id, "tok_ok", key="double-click"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json()["id"] == answers[1].json()["id"] == cart_id
    assert Reservation.objects.filter(reference=UUID(cart_id)).count() == 1
    assert len(payments.payment_list_for_cart(cart_id=UUID(cart_id))) == 1
    assert stock(mug) == (8, 0, 8)
