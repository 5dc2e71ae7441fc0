"""From a published CartCheckedOut to a recorded, published payment outcome, per fake token.

The bus is eager and django-q2 runs tasks inline (sync), so everything up to the first
gateway answer happens when the checkout transaction commits. Retries wait in one-off
django-q2 schedules, which the tests run with django-q2's own scheduler.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.payments import tasks
from apps.payments.gateways import ChargeResult
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment
from apps.payments.services import payment_cancel_for_expired_order
from tests.payments.conftest import (
    charge_retries,
    kinds,
    payment_of,
    publish_checkout,
    published,
    run_due_charge_retries,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_tok_ok_succeeds_and_publishes_payment_succeeded() -> None:
    checkout = publish_checkout(payment_token="tok_ok", total=Decimal("25.00"))

    payment = payment_of(checkout.cart_id)
    charge = FakeGatewayRequest.objects.get()
    assert (payment.status, payment.attempts, payment.failure_code) == ("succeeded", 1, "")
    assert payment.gateway == "fake"
    assert payment.gateway_reference == charge.reference
    assert (charge.operation, charge.outcome, charge.calls) == ("charge", "succeeded", 1)
    assert (charge.amount, charge.currency) == (Decimal("25.00"), "EUR")
    assert published("payments.PaymentSucceeded") == [
        {
            "payment_id": str(payment.id),
            "cart_id": str(checkout.cart_id),
            "amount": "25.00",
            "currency": "EUR",
            "email": "shopper@example.com",
        }
    ]
    assert published("payments.PaymentFailed") == []
    assert kinds(payment) == ["created", "succeeded"]
    assert charge_retries() == []


def test_tok_declined_fails_with_payment_declined_and_publishes_payment_failed() -> None:
    checkout = publish_checkout(payment_token="tok_declined")

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "payment_declined",
        1,
    )
    assert published("payments.PaymentFailed") == [
        {
            "payment_id": str(payment.id),
            "cart_id": str(checkout.cart_id),
            "amount": "25.00",
            "currency": "EUR",
            "email": "shopper@example.com",
            "failure_code": "payment_declined",
            "reason": "Your card was declined.",
        }
    ]
    assert published("payments.PaymentSucceeded") == []
    assert kinds(payment) == ["created", "failed"]
    assert charge_retries() == []


def test_an_unknown_token_is_declined_as_invalid() -> None:
    checkout = publish_checkout(payment_token="tok_nonsense")

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.failure_code) == ("failed", "invalid_payment_token")
    assert [p["failure_code"] for p in published("payments.PaymentFailed")] == [
        "invalid_payment_token"
    ]


class DecliningAsExpiredGateway(FakeGateway):
    """A gateway whose decline code happens to be one the shop gives failures itself."""

    def charge(self, **kwargs: Any) -> ChargeResult:
        return ChargeResult(succeeded=False, reference="", failure_code="order_expired")


def test_a_decline_whose_code_spells_one_of_the_shops_is_recorded_as_declined(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_GATEWAY = f"{__name__}.DecliningAsExpiredGateway"
    checkout = publish_checkout(payment_token="tok_ok")

    assert payment_of(checkout.cart_id).failure_code == "payment_declined"
    assert [p["failure_code"] for p in published("payments.PaymentFailed")] == ["payment_declined"]


LONG_CODE = "card_declined_" + "do_not_honor_" * 4  # 66 characters, the column holds 50


class DecliningWithALongCodeGateway(FakeGateway):
    def charge(self, **kwargs: Any) -> ChargeResult:
        return ChargeResult(succeeded=False, reference="", failure_code=LONG_CODE)


def test_a_decline_with_a_code_longer_than_the_column_still_fails_the_payment(settings) -> None:  # type: ignore[no-untyped-def]
    # On PostgreSQL the write failed and the payment stayed pending, charged again and again.
    settings.PAYMENT_GATEWAY = f"{__name__}.DecliningWithALongCodeGateway"
    checkout = publish_checkout(payment_token="tok_ok")

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.attempts, payment.failure_code) == ("failed", 1, LONG_CODE[:50])
    assert len(published("payments.PaymentFailed")) == 1


def test_tok_flaky_times_out_twice_then_succeeds_on_the_third_attempt(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_MAX_ATTEMPTS = 5
    checkout = publish_checkout(payment_token="tok_flaky")

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.attempts) == ("pending", 1)
    assert len(charge_retries()) == 1
    assert published("payments.PaymentSucceeded") == []

    run_due_charge_retries()

    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("pending", 2)
    assert len(charge_retries()) == 1  # the first one ran and was removed; the next waits

    run_due_charge_retries()

    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 3)
    assert charge_retries() == []
    charge = FakeGatewayRequest.objects.get()
    assert (charge.calls, charge.outcome) == (3, "succeeded")
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]
    assert kinds(payment) == ["created", "charge_timed_out", "charge_timed_out", "succeeded"]


def test_retries_back_off_exponentially(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_RETRY_BASE_SECONDS = 10
    settings.PAYMENT_MAX_ATTEMPTS = 5
    before = timezone.now()
    checkout = publish_checkout(payment_token="tok_flaky")

    first = (charge_retries()[0].next_run - before).total_seconds()
    before = timezone.now()
    run_due_charge_retries()
    second = (charge_retries()[0].next_run - before).total_seconds()

    # Equal jitter: attempt n waits between half and all of base * 2^(n-1).
    assert 5 <= first <= 10.5
    assert 10 <= second <= 20.5
    assert payment_of(checkout.cart_id).attempts == 2


def test_the_gateway_timing_out_every_time_fails_the_payment_as_gateway_unavailable(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 2
    checkout = publish_checkout(payment_token="tok_flaky")

    run_due_charge_retries()

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.failure_code, payment.attempts) == (
        "failed",
        "gateway_unavailable",
        2,
    )
    assert charge_retries() == []
    assert [p["failure_code"] for p in published("payments.PaymentFailed")] == [
        "gateway_unavailable"
    ]
    assert published("payments.PaymentSucceeded") == []
    assert kinds(payment) == ["created", "charge_timed_out", "failed"]


def test_a_charge_task_for_a_settled_payment_does_nothing() -> None:
    checkout = publish_checkout(payment_token="tok_ok")
    payment = payment_of(checkout.cart_id)

    assert tasks.charge_payment(str(payment.id)) == "succeeded"

    payment.refresh_from_db()
    assert payment.attempts == 1
    assert FakeGatewayRequest.objects.get().calls == 1
    assert len(published("payments.PaymentSucceeded")) == 1


def test_a_checkout_carries_its_reservations_end_and_is_charged_before_it() -> None:
    reserved_until = timezone.now() + timedelta(minutes=15)
    checkout = publish_checkout(payment_token="tok_ok", reserved_until=reserved_until)

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.reserved_until) == ("succeeded", reserved_until)


def test_a_retry_due_after_the_reservation_ran_out_charges_nothing(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    # The units are back on sale by then: money taken would only be refunded.
    settings.PAYMENT_MAX_ATTEMPTS = 5
    checkout = publish_checkout(
        payment_token="tok_flaky", reserved_until=timezone.now() + timedelta(minutes=15)
    )
    Payment.objects.filter(cart_id=checkout.cart_id).update(
        reserved_until=timezone.now() - timedelta(seconds=1)
    )

    run_due_charge_retries()

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.attempts) == ("pending", 1)  # left to the order's expiry
    assert FakeGatewayRequest.objects.get().calls == 1
    assert charge_retries() == []
    assert published("payments.PaymentSucceeded") == published("payments.PaymentFailed") == []
    assert "not charged: its order's reservation ran out" in caplog.text
    assert kinds(payment) == ["created", "charge_timed_out"]


def test_a_timeout_whose_retry_would_come_after_the_reservation_ran_out_is_not_retried(
    settings,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.PAYMENT_RETRY_BASE_SECONDS = 60
    settings.PAYMENT_MAX_ATTEMPTS = 5
    checkout = publish_checkout(
        payment_token="tok_flaky", reserved_until=timezone.now() + timedelta(seconds=20)
    )

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.attempts) == ("pending", 1)  # left to the order's expiry
    assert charge_retries() == []
    assert FakeGatewayRequest.objects.get().calls == 1
    assert published("payments.PaymentSucceeded") == published("payments.PaymentFailed") == []
    assert "not retried: its order's reservation runs out" in caplog.text
    assert kinds(payment) == ["created", "charge_timed_out"]

    # The expiry fails it and asks the gateway what became of the attempt.
    payment_cancel_for_expired_order(cart_id=checkout.cart_id)

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "order_expired")
    assert payment.charge_unsettled_since is not None
