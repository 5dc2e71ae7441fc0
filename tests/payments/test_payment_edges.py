"""Payments: a re-stamped webhook signature, capped backoff, refund keys scoped per staff
member, the refund webhook of a charge owed back, and an expired order never charged."""

import json
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.cart.events import CartExpired
from apps.payments import services
from apps.payments.gateways import signing
from apps.payments.models import FakeGatewayRequest, Payment, PaymentEvent
from ecommerce.accounts.models import User
from ecommerce.bus import publish
from tests.payments.conftest import charge_retries, may_refund, published
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK = "/api/v1/payments/webhook"
SECRET = "whsec-test-secret"


@pytest.fixture(autouse=True)
def _secret(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_WEBHOOK_SECRET = SECRET


def webhook_body(payment: Payment, kind: str, event_id: str = "evt_1", **data: Any) -> bytes:
    message = {"id": event_id, "type": kind, "data": {"payment_id": str(payment.id), **data}}
    return json.dumps(message).encode()


def post_webhook(api: APIClient, body: bytes, signature: str) -> Any:
    return api.generic(
        "POST", WEBHOOK, body, content_type="application/json", HTTP_X_SIGNATURE=signature
    )


def kinds(payment: Payment) -> list[str]:
    return list(PaymentEvent.objects.filter(payment=payment).values_list("kind", flat=True))


def test_an_old_signature_with_its_time_rewritten_to_now_is_400_and_changes_nothing(
    api: APIClient,
) -> None:
    # A captured webhook replayed an hour later: the attacker can change t, not the HMAC.
    payment = PaymentFactory()
    body = webhook_body(payment, "charge.succeeded", reference="fake_ch_1")
    captured = signing.compute(body, secret=SECRET, timestamp=int(time.time()) - 3600)

    response = post_webhook(api, body, f"t={int(time.time())},v1={captured}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_signature"
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference) == ("pending", "")
    assert not PaymentEvent.objects.exists()
    assert published("payments.PaymentSucceeded") == []


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


def test_the_refund_webhook_of_a_late_charge_owed_back_is_applied(api: APIClient) -> None:
    # The charge landed after the order expired; the gateway reports the refund we owed.
    payment = PaymentFactory(
        failed=True,
        failure_code="order_expired",
        gateway_reference="fake_ch_0",
        refund_owed_since=timezone.now(),
    )
    body = webhook_body(payment, "charge.refunded", reference="fake_re_1")

    response = post_webhook(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json() == {"gateway_event_id": "evt_1", "result": "applied"}
    payment.refresh_from_db()
    assert (payment.status, payment.refund_reference) == ("refunded", "fake_re_1")
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert kinds(payment) == ["webhook", "refunded"]


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
