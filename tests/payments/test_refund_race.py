"""Staff refunds at once: of one payment from the API and the admin, of two payments with
one key."""

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from apps.payments import services
from apps.payments.gateways import RefundResult
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import Payment, PaymentEvent
from tests.payments.conftest import may_refund
from tests.payments.factories import PaymentFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Both refund requests are inside the gateway call (each has recorded its debt) before either
# gets its answer: two staff members pressing "refund" within the gateway's latency.
BOTH_AT_THE_GATEWAY = threading.Barrier(2, timeout=10)


class SlowDecliningRefundsGateway(FakeGateway):
    def refund(self, **kwargs: Any) -> RefundResult:
        BOTH_AT_THE_GATEWAY.wait()
        return RefundResult(
            reference="",
            succeeded=False,
            failure_code="charge_disputed",
            failure_reason="the charge is disputed",
        )


def test_a_declined_refund_asked_from_the_api_and_the_admin_at_once_is_reported_declined_to_both(
    make_user: Any, settings: Any
) -> None:
    settings.PAYMENT_GATEWAY = f"{__name__}.SlowDecliningRefundsGateway"
    BOTH_AT_THE_GATEWAY.reset()
    payment = PaymentFactory(succeeded=True)
    api = APIClient()
    api.force_authenticate(may_refund(make_user("api-staff@example.com", staff=True)))
    admin_user = make_user("admin@example.com", staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    admin = Client()
    admin.force_login(admin_user)
    outcomes: dict[str, Any] = {}

    def via_api() -> None:
        try:
            response = api.post(f"/api/v1/payments/{payment.id}/refund")
            outcomes["api"] = (response.status_code, response.json())
        except Exception as exc:
            outcomes["api"] = repr(exc)
        finally:
            connection.close()

    def via_admin() -> None:
        try:
            response = admin.post(
                "/admin/payments/payment/",
                {"action": "refund", "_selected_action": [str(payment.id)]},
                follow=True,
            )
            text = response.content.decode()
            outcomes["admin"] = (
                "refunded"
                if "payments refunded" in text
                else ("declined" if "declined the refund" in text else text[:300])
            )
        except Exception as exc:
            outcomes["admin"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=via_api), threading.Thread(target=via_admin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    payment.refresh_from_db()
    assert payment.status == "succeeded"  # the gateway moved no money
    assert PaymentEvent.objects.filter(payment=payment, kind="refund_declined").count() == 1
    # Neither staff member may be told the refund went through: both were declined.
    api_status, api_body = outcomes["api"]
    assert (api_status, outcomes["admin"]) == (409, "declined"), (
        f"api answered {api_status} {api_body}, admin reported {outcomes['admin']!r}, "
        f"payment is {Payment.objects.get(pk=payment.pk).status}"
    )


def test_one_idempotency_key_sent_for_two_payments_at_once_refunds_only_one(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_checked = threading.Barrier(2, timeout=10)
    original = services._owe_staff_refund

    def owe_once_both_checked(*args: Any, **kwargs: Any) -> Any:
        """Each request has looked for the key on another payment, found none, and goes on."""
        both_checked.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "_owe_staff_refund", owe_once_both_checked)
    first, second = PaymentFactory(succeeded=True), PaymentFactory(succeeded=True)
    staff = may_refund(make_user("refunds@example.com", staff=True))
    answers: dict[str, Any] = {}

    def refund(payment: Payment) -> None:
        client = APIClient()
        client.force_authenticate(staff)
        try:
            response = client.post(
                f"/api/v1/payments/{payment.id}/refund", HTTP_IDEMPOTENCY_KEY="refund-42"
            )
            answers[str(payment.id)] = response.status_code
        except Exception as exc:
            answers[str(payment.id)] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    statuses = sorted(Payment.objects.values_list("status", flat=True))
    # docs/PAYMENTS.md: the same key on another payment's refund is 409 idempotency_key_reused.
    assert sorted(answers.values()) == [200, 409], (answers, statuses)
    assert statuses == ["refunded", "succeeded"]
