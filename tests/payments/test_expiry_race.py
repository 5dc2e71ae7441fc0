"""An order's expiry and its checkout reaching payments at the same moment (two relays on
PostgreSQL: payments.cancel_expired_order and payments.start_payment are different
subscribers, so nothing orders them). The cart's one payment row orders them."""

from decimal import Decimal

import pytest

from apps.cart.events import CartCheckedOut, CartExpired
from apps.payments import handlers
from apps.payments.models import FakeGatewayRequest, Payment
from tests.payments.conftest import checkout_event
from tests.postgres import first_commits_late

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _checkout_and_its_expiry() -> tuple[CartCheckedOut, CartExpired]:
    checkout = checkout_event(total=Decimal("25.00"))
    expiry = CartExpired(
        cart_id=checkout.cart_id,
        user_id=None,
        email=checkout.email,
        total=checkout.total,
        currency=checkout.currency,
    )
    return checkout, expiry


def test_an_expiry_recorded_while_the_checkout_arrives_lets_nothing_be_charged() -> None:
    checkout, expiry = _checkout_and_its_expiry()

    started = first_commits_late(
        lambda: handlers.on_cart_expired(expiry), lambda: handlers.on_cart_checked_out(checkout)
    )

    assert not isinstance(started, Exception)

    payment = Payment.objects.get(cart_id=checkout.cart_id)
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "order_expired",
        0,
    )
    assert not FakeGatewayRequest.objects.exists()


def test_a_checkout_recorded_while_the_expiry_arrives_keeps_no_money() -> None:
    checkout, expiry = _checkout_and_its_expiry()

    cancelled = first_commits_late(
        lambda: handlers.on_cart_checked_out(checkout), lambda: handlers.on_cart_expired(expiry)
    )

    assert not isinstance(cancelled, Exception)

    # The charge, queued when the checkout committed, ran before or after the expiry ended the
    # payment: either it charged nothing, or the money was owed back and refunded.
    payment = Payment.objects.get(cart_id=checkout.cart_id)
    charged = FakeGatewayRequest.objects.filter(operation="charge", outcome="succeeded").exists()
    if charged:
        assert payment.status == "refunded"
        assert FakeGatewayRequest.objects.filter(operation="refund").count() == 1
    else:
        assert (payment.status, payment.failure_code) == ("failed", "order_expired")
