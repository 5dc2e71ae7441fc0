"""The order flow end to end, as the customer hears it: every order gets "order received",
then exactly one of "payment confirmed" or "payment failed"; a refund is announced.

Same setup as test_checkout.py: the API, the eager bus, django-q2 running tasks inline.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from apps.inventory import services as inventory
from apps.inventory.models import Reservation
from apps.notifications.models import Notification
from apps.products import services as products
from ecommerce.accounts.models import User
from tests.cart.factories import make_product
from tests.payments.conftest import may_refund, run_charge_retries_inline

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVED = "Example Shop: we received your order"
CONFIRMED = "Example Shop: payment confirmed, your receipt"
FAILED = "Example Shop: your payment did not go through"
REFUNDED = "Example Shop: your refund is on its way"


def shop(client: APIClient, product: products.ProductDTO, quantity: int) -> str:
    """Create a cart holding ``quantity`` of ``product``; the client sends its token."""
    cart = client.post("/api/v1/carts/").json()
    client.credentials(HTTP_X_CART_TOKEN=cart["token"])
    added = client.post(
        f"/api/v1/carts/{cart['id']}/items", {"product_id": str(product.id), "quantity": quantity}
    )
    assert added.status_code == 201, added.content
    return str(cart["id"])


def checkout(client: APIClient, cart_id: str, token: str) -> Any:
    return client.post(
        f"/api/v1/carts/{cart_id}/checkout",
        {"email": "ann@example.com", "payment_token": token},
        HTTP_IDEMPOTENCY_KEY=f"checkout-{cart_id}",
    )


def status_of(client: APIClient, cart_id: str) -> str:
    return str(client.get(f"/api/v1/carts/{cart_id}/").json()["status"])


def inbox(client: APIClient) -> list[tuple[str, str]]:
    body = client.get("/api/v1/notifications/").json()
    return [(n["kind"], n["order_id"]) for n in body["results"]]


def emails() -> list[tuple[list[str], str]]:
    """The emails sent, in the order of the events that made them.

    Each email is its own django-q2 task, so the mail server may see them in another order
    (here, with tasks inline, the receipt's chain of events runs inside the checkout's
    deliveries and its email goes out first); the records keep the order of events.
    """
    records = Notification.objects.filter(channel="email", status="sent").order_by("created_at")
    by_record = [([n.email], n.subject) for n in records]
    assert sorted(by_record) == sorted((m.to, m.subject) for m in mail.outbox)
    return by_record


def test_a_paid_order_is_received_then_confirmed_once(user_api: APIClient) -> None:
    mug = make_product(name="Blue Mug", price="4.50", stock=10)
    cart_id = shop(user_api, mug, 3)

    assert checkout(user_api, cart_id, "tok_ok").status_code == 202

    assert status_of(user_api, cart_id) == "paid"
    assert emails() == [(["ann@example.com"], RECEIVED), (["ann@example.com"], CONFIRMED)]
    received, receipt = sorted(mail.outbox, key=lambda m: m.subject != RECEIVED)
    assert "  3 x Blue Mug" in received.body
    assert "Total: 13.50 EUR" in received.body
    assert "  3 x Blue Mug" in receipt.body
    assert "Paid: 13.50 EUR" in receipt.body
    assert inbox(user_api) == [("payment_confirmed", cart_id), ("order_received", cart_id)]


def test_a_declined_order_is_received_then_failed(user_api: APIClient) -> None:
    mug = make_product(stock=10)
    cart_id = shop(user_api, mug, 1)

    assert checkout(user_api, cart_id, "tok_declined").status_code == 202

    assert status_of(user_api, cart_id) == "payment_failed"
    assert emails() == [(["ann@example.com"], RECEIVED), (["ann@example.com"], FAILED)]
    assert any("Your card issuer declined the payment." in m.body for m in mail.outbox)
    assert inbox(user_api) == [("payment_failed", cart_id), ("order_received", cart_id)]


def test_a_flaky_gateway_still_gives_one_receipt(api: APIClient) -> None:
    mug = make_product(stock=10)
    cart_id = shop(api, mug, 1)

    assert checkout(api, cart_id, "tok_flaky").status_code == 202
    assert emails() == [(["ann@example.com"], RECEIVED)]
    for _ in range(5):
        if status_of(api, cart_id) != "checked_out":
            break
        run_charge_retries_inline()

    assert status_of(api, cart_id) == "paid"
    assert emails() == [(["ann@example.com"], RECEIVED), (["ann@example.com"], CONFIRMED)]
    # An anonymous shopper has no inbox: emails only.
    assert set(Notification.objects.values_list("channel", flat=True)) == {"email"}


@pytest.fixture
def refund_api(make_user: Callable[..., User]) -> APIClient:
    client = APIClient()
    client.force_authenticate(may_refund(make_user("refunds@example.com", staff=True)))
    return client


def test_a_refund_by_staff_is_announced(user_api: APIClient, refund_api: APIClient) -> None:
    mug = make_product(stock=10)
    cart_id = shop(user_api, mug, 2)
    checkout(user_api, cart_id, "tok_ok")
    payment_id = user_api.get(f"/api/v1/payments/?cart={cart_id}").json()["results"][0]["id"]

    assert refund_api.post(f"/api/v1/payments/{payment_id}/refund").status_code == 200

    assert emails()[-1] == (["ann@example.com"], REFUNDED)
    assert len(mail.outbox) == 3
    assert inbox(user_api)[0] == ("refund_issued", cart_id)
    assert Notification.objects.get(kind="refund_issued", channel="in_app").order_id == UUID(
        cart_id
    )


def test_an_order_that_runs_out_of_time_unpaid_is_received_then_failed(
    user_api: APIClient,
) -> None:
    mug = make_product(price="4.50", stock=10)
    cart_id = shop(user_api, mug, 2)
    assert checkout(user_api, cart_id, "tok_flaky").status_code == 202  # the charge timed out

    # RESERVATION_TTL_MINUTES passes before the retry; the scheduled expiry runs.
    Reservation.objects.filter(reference=UUID(cart_id)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert inventory.reservations_expire_due() == 1
    run_charge_retries_inline()  # finds the payment failed: charges nothing

    assert status_of(user_api, cart_id) == "expired"
    assert emails() == [(["ann@example.com"], RECEIVED), (["ann@example.com"], FAILED)]
    [notice] = [m for m in mail.outbox if m.subject == FAILED]
    assert "payment of 9.00 EUR" in notice.body
    assert "The time to pay for the order ran out; if you were charged" in notice.body
    assert "Nothing was charged" not in notice.body
    assert inbox(user_api) == [("payment_failed", cart_id), ("order_received", cart_id)]
