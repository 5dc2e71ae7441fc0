"""POST /api/v1/payments/webhook: signed, fresh, and applied once per gateway event."""

import json
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.payments.gateways import signing
from apps.payments.models import Payment, PaymentEvent
from ecommerce.bus.models import OutboxEvent
from tests.payments.conftest import published
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/payments/webhook"
SECRET = "whsec-test-secret"


@pytest.fixture(autouse=True)
def _secret(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_WEBHOOK_SECRET = SECRET


def body_for(payment: Payment, kind: str, event_id: str = "evt_1", **data: Any) -> bytes:
    message = {"id": event_id, "type": kind, "data": {"payment_id": str(payment.id), **data}}
    return json.dumps(message).encode()


def post(api: APIClient, body: bytes, signature: str | None) -> Any:
    headers = {"HTTP_X_SIGNATURE": signature} if signature is not None else {}
    return api.generic("POST", URL, body, content_type="application/json", **headers)


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def test_a_signed_charge_succeeded_settles_a_pending_payment(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json() == {"gateway_event_id": "evt_1", "result": "applied"}
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference) == ("succeeded", "fake_ch_1")
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]


def test_each_gateway_event_is_applied_once(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    first = post(api, body, signing.sign(body, secret=SECRET))
    again = post(api, body, signing.sign(body, secret=SECRET))

    assert first.json()["result"] == "applied"
    assert again.status_code == 200
    assert again.json() == {"gateway_event_id": "evt_1", "result": "duplicate"}
    assert len(published("payments.PaymentSucceeded")) == 1
    assert PaymentEvent.objects.filter(gateway_event_id="evt_1").count() == 1
    assert PaymentEvent.objects.filter(payment=payment, kind="succeeded").count() == 1


def test_a_charge_failed_fails_a_pending_payment_with_the_gateways_code(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.failed", failure_code="insufficient_funds")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.json()["result"] == "applied"
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")
    assert [p["failure_code"] for p in published("payments.PaymentFailed")] == [
        "insufficient_funds"
    ]


def test_a_charge_refunded_at_the_gateway_refunds_a_succeeded_payment(api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)
    body = body_for(payment, "charge.refunded", reference="fake_re_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.json()["result"] == "applied"
    payment.refresh_from_db()
    assert (payment.status, payment.refund_reference) == ("refunded", "fake_re_1")
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]


def test_an_event_that_does_not_fit_the_payments_state_is_recorded_and_ignored(
    api: APIClient,
) -> None:
    payment = PaymentFactory(failed=True)
    body = body_for(payment, "charge.refunded")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.json()["result"] == "ignored"
    payment.refresh_from_db()
    assert payment.status == "failed"
    assert PaymentEvent.objects.filter(gateway_event_id="evt_1").exists()
    assert not OutboxEvent.objects.exists()


def test_an_event_about_an_unknown_payment_is_ignored(api: APIClient) -> None:
    payment = PaymentFactory.build()  # never saved
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert not PaymentEvent.objects.exists()


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("v1=abc", id="no timestamp"),
        pytest.param("t=1700000000", id="no signature"),
        pytest.param("garbage", id="garbage"),
        pytest.param(f"t={int(time.time())},v1=\u00e9", id="non-ascii signature"),
        pytest.param(f"t={int(time.time())},v1={'AB' * 32}", id="uppercase hex"),
    ],
)
def test_a_missing_or_malformed_signature_is_400_and_changes_nothing(
    api: APIClient, signature: str | None
) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signature)

    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert_nothing_changed(payment)


def test_a_signature_with_the_wrong_secret_is_400_and_changes_nothing(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret="not-the-secret"))

    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert_nothing_changed(payment)


def test_a_signature_over_another_body_is_400_and_changes_nothing(api: APIClient) -> None:
    payment = PaymentFactory()
    signed = body_for(payment, "charge.failed")
    sent = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, sent, signing.sign(signed, secret=SECRET))

    assert response.status_code == 400
    assert_nothing_changed(payment)


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_an_old_or_future_signature_is_400_even_when_the_hmac_is_right(
    api: APIClient, age: int
) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET, timestamp=int(time.time()) - age))

    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert_nothing_changed(payment)


def test_a_signature_within_the_tolerance_is_accepted(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET, timestamp=int(time.time()) - 250))

    assert response.status_code == 200


def test_one_of_several_signatures_matching_is_enough_for_secret_rotation(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")
    now = int(time.time())
    old = signing.compute(body, secret="the-old-secret", timestamp=now)
    new = signing.compute(body, secret=SECRET, timestamp=now)

    response = post(api, body, f"t={now},v1={old},v1={new}")

    assert response.status_code == 200


def test_a_signed_body_that_is_not_an_event_is_400_invalid_webhook(api: APIClient) -> None:
    payment = PaymentFactory()
    body = b'{"type": "charge.succeeded"}'

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 400
    assert error_code(response) == "invalid_webhook"
    assert_nothing_changed(payment)


def assert_nothing_changed(payment: Payment) -> None:
    before = (payment.status, payment.gateway_reference, payment.updated_at)
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference, payment.updated_at) == before
    assert not PaymentEvent.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_charge_succeeded_without_its_reference_is_400_invalid_webhook(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 400
    assert error_code(response) == "invalid_webhook"
    assert_nothing_changed(payment)
