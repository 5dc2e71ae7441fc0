"""One payment per cart, one charge per checkout, however often CartCheckedOut arrives."""

import pytest
from django.db import transaction

from apps.payments import handlers
from apps.payments.models import FakeGatewayRequest, Payment
from ecommerce.bus import operations
from ecommerce.bus.models import Delivery
from ecommerce.bus.relay import Relay
from tests.payments.conftest import checkout_event, payment_of, publish_checkout, published

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_subscription_is_named_payments_start_payment() -> None:
    checkout = publish_checkout()

    # Other apps subscribe to checkouts too (notifications); payments has exactly one.
    delivery = Delivery.objects.get(
        event__event_id=checkout.event_id, subscriber__startswith="payments."
    )
    assert (delivery.subscriber, delivery.status) == ("payments.start_payment", "delivered")


def test_a_replayed_checkout_makes_no_second_payment_and_no_second_charge() -> None:
    checkout = publish_checkout(payment_token="tok_ok")

    queued = operations.replay(operations.ReplaySlice(subscriber="payments.start_payment"))
    Relay().drain()

    assert queued == 1
    assert (
        Delivery.objects.get(
            event__event_id=checkout.event_id, subscriber="payments.start_payment"
        ).status
        == "delivered"
    )
    assert Payment.objects.count() == 1
    assert payment_of(checkout.cart_id).attempts == 1
    charge = FakeGatewayRequest.objects.get()
    assert (charge.calls, charge.outcome) == (1, "succeeded")
    assert len(published("payments.PaymentSucceeded")) == 1


def test_a_checkout_handled_twice_before_the_charge_ran_queues_one_charge() -> None:
    checkout = checkout_event(payment_token="tok_ok")

    with transaction.atomic():
        handlers.on_cart_checked_out(checkout)
        handlers.on_cart_checked_out(checkout)

    payment = payment_of(checkout.cart_id)
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    assert FakeGatewayRequest.objects.get().calls == 1
    assert len(published("payments.PaymentSucceeded")) == 1


def test_the_payment_snapshots_the_checkout_and_keys_the_charge_by_cart_and_event(
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    user = make_user()
    checkout = checkout_event(user_id=user.pk, email="ada@example.com", currency="EUR")

    with transaction.atomic():
        handlers.on_cart_checked_out(checkout)

    payment = payment_of(checkout.cart_id)
    assert payment.user_id == user.pk
    assert payment.email == "ada@example.com"
    assert (payment.amount, payment.currency) == (checkout.total, "EUR")
    assert payment.idempotency_key == f"charge:{checkout.cart_id}:{checkout.event_id}"
    assert FakeGatewayRequest.objects.get().idempotency_key == payment.idempotency_key


def test_a_rolled_back_checkout_starts_no_payment() -> None:
    checkout = checkout_event()

    def delivery_that_fails() -> None:
        with transaction.atomic():
            handlers.on_cart_checked_out(checkout)
            raise RuntimeError("the delivery failed")

    with pytest.raises(RuntimeError):
        delivery_that_fails()

    assert not Payment.objects.exists()
    assert not FakeGatewayRequest.objects.exists()
