"""Payments: capped backoff, refund keys scoped per staff member, and an expired order
never charged."""

from collections.abc import Callable
from uuid import UUID

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.cart.events import CartExpired
from apps.payments import services
from apps.payments.models import FakeGatewayRequest, Payment
from ecommerce.accounts.models import User
from ecommerce.bus import publish
from tests.payments.conftest import charge_retries, kinds, may_refund, published
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_charge_retry_late_in_the_series_waits_no_longer_than_the_cap(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_MAX_ATTEMPTS = 10
    settings.PAYMENT_RETRY_BASE_SECONDS = 5
    settings.PAYMENT_RETRY_MAX_SECONDS = 300
    payment = PaymentFactory(payment_token="tok_flaky", attempts=8)
    before = timezone.now()

    services.payment_charge(payment_id=payment.id)  # attempt 9 times out

    [retry] = charge_retries()
    waited = (retry.next_run - before).total_seconds()
    # Between half and all of the cap (uncapped, attempt 9 would wait 640 to 1280 s).
    assert 150 <= waited <= 300.5
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("pending", 9)


def test_two_staff_members_may_use_the_same_refund_key_on_different_payments(
    make_user: Callable[..., User],
) -> None:
    alice, bob = APIClient(), APIClient()
    alice.force_authenticate(may_refund(make_user("alice@example.com", staff=True)))
    bob.force_authenticate(may_refund(make_user("bob@example.com", staff=True)))
    first, second = PaymentFactory(succeeded=True), PaymentFactory(succeeded=True)

    by_alice = alice.post(f"/api/v1/payments/{first.id}/refund", HTTP_IDEMPOTENCY_KEY="refund-1")
    by_bob = bob.post(f"/api/v1/payments/{second.id}/refund", HTTP_IDEMPOTENCY_KEY="refund-1")

    assert (by_alice.status_code, by_bob.status_code) == (200, 200)
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["refunded", "refunded"]
    assert sorted(p["payment_id"] for p in published("payments.PaymentRefunded")) == sorted(
        [str(first.id), str(second.id)]
    )


def expire_order(cart_id: UUID) -> None:
    with transaction.atomic():
        publish(CartExpired(cart_id=cart_id, user_id=None, email="shopper@example.com"))


def test_an_expired_order_whose_charge_was_never_asked_for_leaves_nothing_to_settle() -> None:
    payment = PaymentFactory(attempts=0)  # created; its charge task never ran

    expire_order(payment.cart_id)

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "order_expired")
    assert payment.charge_unsettled_since is None
    assert kinds(payment) == ["failed"]
    assert not FakeGatewayRequest.objects.exists()
    assert services.payments_resume_stalled(older_than_seconds=0) == 0
