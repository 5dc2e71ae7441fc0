"""Money that lands on an order that already ended is given back, and the stock stays sold
once: the saga's race between a slow payment and an expiring reservation, end to end."""

from datetime import timedelta
from io import StringIO
from uuid import UUID

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ
from rest_framework.test import APIClient

from apps.inventory import services as inventory
from apps.inventory.models import Reservation
from apps.payments import services as payments
from apps.payments.models import FakeGatewayRequest, Payment
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.relay import Relay
from tests.cart.factories import make_product
from tests.e2e.test_checkout import checkout, ledger, shop, status_of, stock
from tests.payments.conftest import run_charge_retries_inline

pytestmark = pytest.mark.django_db(transaction=True)


def expire_reservation(cart_id: str) -> None:
    """RESERVATION_TTL passes and the scheduled expiry runs."""
    Reservation.objects.filter(reference=UUID(cart_id)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert inventory.reservations_expire_due() == 1


def test_a_retry_after_the_order_expired_charges_nothing_and_the_unit_sells_once(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 5
    mug = make_product(stock=1)
    slow, other = APIClient(), APIClient()
    slow_cart, _ = shop(slow, mug, 1)
    assert checkout(slow, slow_cart, "tok_flaky").status_code == 202  # the charge timed out

    expire_reservation(slow_cart)
    other_cart, _ = shop(other, mug, 1)
    assert checkout(other, other_cart, "tok_ok").status_code == 202
    for _ in range(3):
        run_charge_retries_inline()

    [slow_payment] = payments.payment_list_for_cart(cart_id=UUID(slow_cart))
    [other_payment] = payments.payment_list_for_cart(cart_id=UUID(other_cart))
    assert (status_of(slow, slow_cart), status_of(other, other_cart)) == ("expired", "paid")
    assert (slow_payment.status, slow_payment.failure_code, slow_payment.attempts) == (
        "failed",
        "order_expired",
        1,
    )
    assert other_payment.status == "succeeded"
    slow_charge = FakeGatewayRequest.objects.get(payment_id=slow_payment.id)
    assert (slow_charge.calls, slow_charge.outcome) == (1, "pending")  # never charged
    assert stock(mug) == (0, 0, 0)
    assert ledger(slow_cart) == [("reservation", 0, 1), ("expiry", 0, -1)]
    assert ledger(other_cart) == [("reservation", 0, 1), ("commit", -1, -1)]


def test_a_payment_that_loses_the_race_with_expiry_is_refunded_and_the_unit_sells_once(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 5
    mug = make_product(stock=1)
    slow, other = APIClient(), APIClient()
    slow_cart, _ = shop(slow, mug, 1)
    assert checkout(slow, slow_cart, "tok_flaky").status_code == 202  # the charge timed out
    # Inventory expires the reservation; the cart's expiry handler lags behind.
    settings.BUS_EAGER = False
    expire_reservation(slow_cart)
    Delivery.objects.filter(subscriber="cart.expire").update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )

    run_charge_retries_inline()  # times out again
    run_charge_retries_inline()  # the charge goes through
    Relay().drain()
    settings.BUS_EAGER = True
    other_cart, _ = shop(other, mug, 1)
    assert checkout(other, other_cart, "tok_ok").status_code == 202
    Delivery.objects.filter(subscriber="cart.expire").update(next_attempt_at=timezone.now())
    Relay().drain()  # the cart's expiry catches up

    [slow_payment] = payments.payment_list_for_cart(cart_id=UUID(slow_cart))
    [other_payment] = payments.payment_list_for_cart(cart_id=UUID(other_cart))
    assert (status_of(slow, slow_cart), status_of(other, other_cart)) == ("expired", "paid")
    assert (slow_payment.status, other_payment.status) == ("refunded", "succeeded")
    refund = FakeGatewayRequest.objects.get(operation="refund")
    assert (refund.payment_id, refund.calls) == (slow_payment.id, 1)
    assert stock(mug) == (0, 0, 0)
    assert ledger(slow_cart) == [("reservation", 0, 1), ("expiry", 0, -1)]
    assert ledger(other_cart) == [("reservation", 0, 1), ("commit", -1, -1)]
    assert list(
        OutboxEvent.objects.filter(event_type="cart.CartPaid").values_list(
            "aggregate_id", flat=True
        )
    ) == [other_cart]
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_a_lost_charge_swept_up_after_its_reservation_ran_out_charges_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mug = make_product(stock=1)
    client = APIClient()
    cart_id, _ = shop(client, mug, 1)
    monkeypatch.setattr(Conf, "SYNC", False)  # the charge task goes to the broker...
    assert checkout(client, cart_id, "tok_ok").status_code == 202
    OrmQ.objects.all().delete()  # ...which loses it, and the email's (Redis flushed, say)
    monkeypatch.setattr(Conf, "SYNC", True)
    [payment] = Payment.objects.filter(cart_id=UUID(cart_id))
    reservation = Reservation.objects.get(reference=UUID(cart_id))
    assert payment.reserved_until == reservation.expires_at
    # RESERVATION_TTL passes; the stalled-payments sweep runs before the scheduled expiry.
    ran_out = timezone.now() - timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=ran_out)
    Payment.objects.filter(pk=payment.pk).update(
        reserved_until=ran_out, updated_at=ran_out - timedelta(minutes=15)
    )

    assert payments.payments_resume_stalled() == 0
    assert not FakeGatewayRequest.objects.exists()  # the unit may be sold again: no charge
    assert "1 pending payments are past their reservation's end" in caplog.text

    assert inventory.reservations_expire_due() == 1
    payment.refresh_from_db()
    assert status_of(client, cart_id) == "expired"
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "order_expired",
        0,
    )
    assert payment.charge_unsettled_since is None  # no call was made: nothing to ask about
    assert not FakeGatewayRequest.objects.exists()
    assert stock(mug) == (1, 0, 1)
    assert ledger(cart_id) == [("reservation", 0, 1), ("expiry", 0, -1)]


START_PAYMENT = "payments.start_payment"


def test_a_checkout_reaching_payments_after_its_order_expired_charges_nothing(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    mug = make_product(stock=5)
    client = APIClient()
    cart_id, _ = shop(client, mug, 2)
    settings.BUS_EAGER = False
    assert checkout(client, cart_id, "tok_ok").status_code == 202
    # Payments' handler is failing for now: its delivery waits for a retry.
    Delivery.objects.filter(subscriber=START_PAYMENT).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    Relay().drain()
    expire_reservation(cart_id)
    Relay().drain()
    assert status_of(client, cart_id) == "expired"

    Delivery.objects.filter(subscriber=START_PAYMENT).update(next_attempt_at=timezone.now())
    Relay().drain()
    run_charge_retries_inline()

    [payment] = payments.payment_list_for_cart(cart_id=UUID(cart_id))
    assert (payment.status, payment.failure_code) == ("failed", "order_expired")
    assert not FakeGatewayRequest.objects.exists()  # the gateway was never called
    assert stock(mug) == (5, 0, 5)
    assert ledger(cart_id) == [("reservation", 0, 2), ("expiry", 0, -2)]
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_a_dead_checkout_retried_by_an_operator_after_its_order_expired_charges_nothing(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    mug = make_product(stock=5)
    client = APIClient()
    cart_id, _ = shop(client, mug, 2)
    settings.BUS_EAGER = False
    assert checkout(client, cart_id, "tok_ok").status_code == 202
    # Payments' delivery ran out of attempts (its database was unreachable, say).
    Delivery.objects.filter(subscriber=START_PAYMENT).update(
        status="dead", attempts=10, last_error="OperationalError: could not connect"
    )
    Relay().drain()
    expire_reservation(cart_id)
    Relay().drain()

    # Much later an operator retries the dead delivery.
    call_command("dead_letters", "retry", "--subscriber", START_PAYMENT, stdout=StringIO())
    Relay().drain()
    run_charge_retries_inline()

    assert status_of(client, cart_id) == "expired"
    [payment] = payments.payment_list_for_cart(cart_id=UUID(cart_id))
    assert (payment.status, payment.failure_code) == ("failed", "order_expired")
    assert not FakeGatewayRequest.objects.exists()
    assert stock(mug) == (5, 0, 5)
    assert not Delivery.objects.exclude(status="delivered").exists()
