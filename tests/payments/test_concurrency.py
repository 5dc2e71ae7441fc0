"""Two workers on the same payment at once: money moves once, the outcome is published once."""

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from apps.payments import services
from apps.payments.gateways import signing
from apps.payments.models import FakeGatewayRequest, PaymentEvent
from tests.payments.conftest import published
from tests.payments.factories import PaymentFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def side_by_side(work: Callable[[], Any], times: int = 2) -> list[Any]:
    """Run ``work`` in ``times`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(times)
    results: list[Any] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_charge_tasks_at_once_charge_once_and_publish_once() -> None:
    payment = PaymentFactory(payment_token="tok_ok")

    results = side_by_side(
        lambda: services.payment_charge(payment_id=payment.id, attempt=1), times=4
    )

    # One task took attempt 1; the others found it taken (pending, or already succeeded).
    statuses = {r.status for r in results}
    assert "succeeded" in statuses
    assert statuses <= {"pending", "succeeded"}
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    charge = FakeGatewayRequest.objects.get()
    assert (charge.outcome, charge.calls) == ("succeeded", 1)
    assert payment.gateway_reference == charge.reference
    assert len(published("payments.PaymentSucceeded")) == 1
    assert PaymentEvent.objects.filter(payment=payment, kind="succeeded").count() == 1


def test_two_refunds_at_once_refund_once() -> None:
    payment = PaymentFactory(succeeded=True)

    results = side_by_side(lambda: services.payment_refund(payment_id=payment.id), times=3)

    assert all(
        not isinstance(r, Exception) or isinstance(r, services.PaymentNotRefundable)
        for r in results
    )
    payment.refresh_from_db()
    assert payment.status == "refunded"
    # Every refund that got past the status check called the gateway, all with one key, and
    # the gateway moved the money on the first call only: one reference, recorded once.
    answered = [r for r in results if not isinstance(r, Exception)]
    refund = FakeGatewayRequest.objects.get(operation="refund")
    assert (refund.idempotency_key, refund.calls) == (f"refund:{payment.id}", len(answered))
    assert {r.payment.status for r in answered} == {"refunded"}
    assert payment.refund_reference == refund.reference
    assert len(published("payments.PaymentRefunded")) == 1


def test_one_webhook_delivered_twice_at_once_is_applied_once(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_WEBHOOK_SECRET = "whsec-test"
    payment = PaymentFactory()
    body = json.dumps(
        {
            "id": "evt_9",
            "type": "charge.succeeded",
            "data": {"payment_id": str(payment.id), "reference": "ch_9"},
        }
    ).encode()
    headers = {"X-Signature": signing.sign(body, secret="whsec-test")}

    results = side_by_side(lambda: services.payment_apply_webhook(body=body, headers=headers), 3)

    assert sorted(r.result for r in results) == ["applied", "duplicate", "duplicate"]
    assert len(published("payments.PaymentSucceeded")) == 1
    assert PaymentEvent.objects.filter(gateway_event_id="evt_9").count() == 1
