"""An order's expiry and its checkout reaching payments at the same moment (two relays on
PostgreSQL: payments.cancel_expired_order and payments.start_payment are different
subscribers, so nothing orders them). The cart's one payment row orders them."""

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.cart.events import CartExpired
from apps.payments import handlers
from apps.payments.models import FakeGatewayRequest, Payment
from tests.payments.conftest import checkout_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _a_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])  # type: ignore[index]


def _first_holds_until_the_second_waits(
    first: Callable[[], None], second: Callable[[], None]
) -> None:
    """Run ``first`` in a transaction kept open until ``second``, in its own, waits on it."""
    inside, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            with transaction.atomic():
                first()
                inside.set()
                finish.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def run_second() -> None:
        inside.wait(10)
        try:
            with transaction.atomic():
                second()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while not _a_backend_waits_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    finish.set()
    for t in threads:
        t.join()
    assert errors == []


def test_an_expiry_recorded_while_the_checkout_arrives_lets_nothing_be_charged() -> None:
    checkout = checkout_event(total=Decimal("25.00"))
    expiry = CartExpired(
        cart_id=checkout.cart_id,
        user_id=None,
        email=checkout.email,
        total=checkout.total,
        currency=checkout.currency,
    )

    _first_holds_until_the_second_waits(
        lambda: handlers.on_cart_expired(expiry), lambda: handlers.on_cart_checked_out(checkout)
    )

    payment = Payment.objects.get(cart_id=checkout.cart_id)
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "order_expired",
        0,
    )
    assert not FakeGatewayRequest.objects.exists()


def test_a_checkout_recorded_while_the_expiry_arrives_keeps_no_money() -> None:
    checkout = checkout_event(total=Decimal("25.00"))
    expiry = CartExpired(
        cart_id=checkout.cart_id,
        user_id=None,
        email=checkout.email,
        total=checkout.total,
        currency=checkout.currency,
    )

    _first_holds_until_the_second_waits(
        lambda: handlers.on_cart_checked_out(checkout), lambda: handlers.on_cart_expired(expiry)
    )

    # The charge, queued when the checkout committed, ran before or after the expiry ended the
    # payment: either it charged nothing, or the money was owed back and refunded.
    payment = Payment.objects.get(cart_id=checkout.cart_id)
    charged = FakeGatewayRequest.objects.filter(operation="charge", outcome="succeeded").exists()
    if charged:
        assert payment.status == "refunded"
        assert FakeGatewayRequest.objects.filter(operation="refund").count() == 1
    else:
        assert (payment.status, payment.failure_code) == ("failed", "order_expired")
