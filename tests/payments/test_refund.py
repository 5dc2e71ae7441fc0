"""Staff refunds: only succeeded payments, once, through the gateway, published."""

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.payments import services
from apps.payments.gateways import GatewayTimeout
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import FakeGatewayRequest, Payment, PaymentEvent
from ecommerce.bus.models import OutboxEvent
from tests.payments.conftest import publish_checkout, published
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def refund_url(payment: Payment) -> str:
    return f"/api/v1/payments/{payment.id}/refund"


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def test_staff_refund_a_succeeded_payment_and_payment_refunded_is_published(
    refund_api: APIClient,
) -> None:
    checkout = publish_checkout(payment_token="tok_ok")
    payment = Payment.objects.get(cart_id=checkout.cart_id)

    response = refund_api.post(refund_url(payment))

    assert response.status_code == 200
    assert response.json()["status"] == "refunded"
    payment.refresh_from_db()
    refund = FakeGatewayRequest.objects.get(operation="refund")
    assert payment.status == "refunded"
    assert payment.refund_reference == refund.reference
    assert (refund.payment_id, refund.amount, refund.calls) == (payment.id, payment.amount, 1)
    assert published("payments.PaymentRefunded") == [
        {
            "payment_id": str(payment.id),
            "cart_id": str(checkout.cart_id),
            "amount": "25.00",
            "currency": "EUR",
            "email": "shopper@example.com",
        }
    ]
    assert PaymentEvent.objects.filter(payment=payment, kind="refunded").count() == 1


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_refusing_to_refund_a_payment_that_did_not_succeed(
    refund_api: APIClient, status: str
) -> None:
    payment = PaymentFactory(failed=True) if status == "failed" else PaymentFactory()

    response = refund_api.post(refund_url(payment))

    assert response.status_code == 409
    assert error_code(response) == "payment_not_refundable"
    payment.refresh_from_db()
    assert payment.status == status
    assert not FakeGatewayRequest.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_second_refund_is_refused_unless_it_repeats_the_first_request(
    refund_api: APIClient,
) -> None:
    payment = PaymentFactory(succeeded=True)
    first = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")

    repeated = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-1")
    another = refund_api.post(refund_url(payment), HTTP_IDEMPOTENCY_KEY="refund-2")
    unkeyed = refund_api.post(refund_url(payment))

    assert first.status_code == 200
    assert repeated.status_code == 200
    assert repeated.json() == first.json()
    assert (another.status_code, error_code(another)) == (409, "payment_not_refundable")
    assert (unkeyed.status_code, error_code(unkeyed)) == (409, "payment_not_refundable")
    assert FakeGatewayRequest.objects.get(operation="refund").calls == 1
    assert len(published("payments.PaymentRefunded")) == 1


def test_the_same_key_on_another_payments_refund_is_409_and_refunds_nothing(
    refund_api: APIClient,
) -> None:
    first, second = PaymentFactory(succeeded=True), PaymentFactory(succeeded=True)
    assert refund_api.post(refund_url(first), HTTP_IDEMPOTENCY_KEY="refund-1").status_code == 200

    response = refund_api.post(refund_url(second), HTTP_IDEMPOTENCY_KEY="refund-1")

    assert (response.status_code, error_code(response)) == (409, "idempotency_key_reused")
    second.refresh_from_db()
    assert second.status == "succeeded"
    assert list(FakeGatewayRequest.objects.values_list("payment_id", flat=True)) == [first.id]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(first.id)]


def test_staff_without_the_refund_permission_may_not_refund(staff_api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)

    response = staff_api.post(refund_url(payment))

    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


def test_staff_without_the_refund_permission_get_no_refund_action(
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    client = Client()
    client.force_login(make_user("admin@example.com", staff=True))
    payment = PaymentFactory(succeeded=True)

    listed = client.get("/admin/payments/payment/")
    client.post(
        "/admin/payments/payment/", {"action": "refund", "_selected_action": [str(payment.id)]}
    )

    assert listed.status_code == 200
    assert listed.context["action_form"] is None  # no action at all: refund was the only one
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


def test_a_shopper_may_not_refund(user_api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)

    response = user_api.post(refund_url(payment))

    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not FakeGatewayRequest.objects.exists()


def test_an_anonymous_caller_may_not_refund(api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)

    response = api.post(refund_url(payment))

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_refunding_an_unknown_payment_is_404(refund_api: APIClient) -> None:
    response = refund_api.post(refund_url(PaymentFactory.build()))

    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_a_gateway_that_does_not_answer_leaves_the_payment_succeeded(
    refund_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = PaymentFactory(succeeded=True)

    def timeout(*args: Any, **kwargs: Any) -> None:
        raise GatewayTimeout("no answer")

    monkeypatch.setattr(FakeGateway, "refund", timeout)
    # A 5xx is reported like any server error; the client should not re-raise it here.
    refund_api.raise_request_exception = False

    response = refund_api.post(refund_url(payment))

    assert response.status_code == 503
    assert error_code(response) == "gateway_unavailable"
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not OutboxEvent.objects.exists()


def test_the_service_refunds_once_when_called_twice() -> None:
    payment = PaymentFactory(succeeded=True)

    services.payment_refund(payment_id=payment.id)
    with pytest.raises(services.PaymentNotRefundable):
        services.payment_refund(payment_id=payment.id)

    assert FakeGatewayRequest.objects.get(operation="refund").calls == 1
    assert len(published("payments.PaymentRefunded")) == 1


def test_the_admin_refund_action_refunds_succeeded_payments_and_reports_the_rest(
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    staff = make_user("admin@example.com", staff=True)
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    succeeded, pending = PaymentFactory(succeeded=True), PaymentFactory()

    response = client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": [str(succeeded.id), str(pending.id)]},
        follow=True,
    )

    assert response.status_code == 200
    succeeded.refresh_from_db()
    pending.refresh_from_db()
    assert (succeeded.status, pending.status) == ("refunded", "pending")
    assert succeeded.refunded_by == staff.pk
    text = response.content.decode()
    assert "1 payments refunded." in text
    assert "Only a succeeded payment can be refunded; this one is pending." in text
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(succeeded.id)]


def test_the_admin_shows_a_payment_with_its_event_log_and_without_its_token(
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    staff = make_user("admin@example.com", staff=True)
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    checkout = publish_checkout(payment_token="tok_ok")
    payment = Payment.objects.get(cart_id=checkout.cart_id)

    page = client.get(f"/admin/payments/payment/{payment.id}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "succeeded" in text
    assert "created" in text
    assert "tok_ok" not in text
