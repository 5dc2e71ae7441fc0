"""The card token never shows up in logs, task records, the payment log or payment events."""

import logging

import pytest
from django_q.models import Schedule, Task

from apps.payments.models import Payment, PaymentEvent
from apps.payments.services import payment_refund
from ecommerce.bus.models import OutboxEvent
from tests.payments.conftest import publish_checkout, run_due_charge_retries

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_token_is_logged_or_stored_beside_the_payment(
    caplog: pytest.LogCaptureFixture,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.PAYMENT_MAX_ATTEMPTS = 5
    caplog.set_level(logging.DEBUG)

    ok = publish_checkout(payment_token="tok_ok")
    publish_checkout(payment_token="tok_declined")
    publish_checkout(payment_token="tok_flaky")
    retries = list(Schedule.objects.values_list("args", "name"))
    run_due_charge_retries()
    run_due_charge_retries()
    payment_refund(payment_id=Payment.objects.get(cart_id=ok.cart_id).pk)

    statuses = set(Payment.objects.values_list("status", flat=True))
    assert statuses == {"refunded", "failed", "succeeded"}
    assert caplog.records  # the flow did log
    assert "tok_" not in caplog.text
    assert retries
    assert all("tok_" not in f"{args} {name}" for args, name in retries)
    assert Task.objects.filter(func="apps.payments.tasks.charge_payment").count() == 5
    for task in Task.objects.all():
        assert "tok_" not in f"{task.args} {task.kwargs} {task.result} {task.name}"
    for detail in PaymentEvent.objects.values_list("detail", flat=True):
        assert "tok_" not in str(detail)
    for payload in OutboxEvent.objects.filter(event_type__startswith="payments.").values_list(
        "payload", flat=True
    ):
        assert "tok_" not in str(payload)
