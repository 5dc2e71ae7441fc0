"""A payment whose charge task was lost is charged again by the stalled-payments sweep."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from apps.payments import tasks
from apps.payments.models import FakeGatewayRequest, Payment
from tests.payments.conftest import charge_retries, publish_checkout
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def untouched_for(payment: Payment, seconds: float) -> None:
    Payment.objects.filter(pk=payment.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_stalled_payment_is_charged_again_and_the_others_are_left_alone(capsys) -> None:  # type: ignore[no-untyped-def]
    stalled = PaymentFactory(payment_token="tok_ok")  # as if the queued charge was lost
    recent = PaymentFactory(payment_token="tok_ok")
    waiting_for_retry = publish_checkout(payment_token="tok_flaky")
    settled = PaymentFactory(succeeded=True)
    retrying = Payment.objects.get(cart_id=waiting_for_retry.cart_id)
    for payment in (stalled, retrying, settled):
        untouched_for(payment, 600)
    untouched_for(recent, 10)

    call_command("resume_stalled_payments", "--older-than", "300")

    assert "1 stalled payments queued again." in capsys.readouterr().out
    statuses = dict(Payment.objects.values_list("pk", "status"))
    assert statuses[stalled.pk] == "succeeded"
    assert statuses[recent.pk] == "pending"
    assert statuses[retrying.pk] == "pending"
    assert Payment.objects.get(pk=retrying.pk).attempts == 1  # its retry is still scheduled
    assert len(charge_retries()) == 1
    assert FakeGatewayRequest.objects.filter(payment_id=stalled.pk).get().calls == 1


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e20", "-1", "soon"])
def test_the_sweep_refuses_a_bad_older_than_and_charges_nothing(seconds: str) -> None:
    untouched_for(PaymentFactory(payment_token="tok_ok"), 600)

    with pytest.raises(CommandError, match="--older-than"):
        call_command("resume_stalled_payments", "--older-than", seconds)

    assert (Payment.objects.get().status, FakeGatewayRequest.objects.count()) == ("pending", 0)


def test_the_sweep_is_scheduled_every_minute() -> None:
    # transaction=True tests flush tables, so re-run the data migrations' functions.
    from importlib import import_module

    from django.apps import apps

    import_module("apps.payments.migrations.0002_resume_stalled_schedule").create_schedule(
        apps, None
    )
    import_module("apps.payments.migrations.0008_resume_stalled_every_minute").every_minute(
        apps, None
    )

    schedule = Schedule.objects.get(name="payments: resume stalled charges")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "apps.payments.tasks.resume_stalled_payments",
        "I",
        1,
        -1,
    )


def test_a_charge_never_started_is_queued_again_after_30_s_a_started_one_later() -> None:
    lost = PaymentFactory(payment_token="tok_ok")  # its task lost before it started
    queued = PaymentFactory(payment_token="tok_ok")  # its task still on its way
    started = PaymentFactory(payment_token="tok_ok", attempts=1)  # its worker may be at the gateway
    untouched_for(lost, 45)
    untouched_for(queued, 10)
    untouched_for(started, 45)

    assert tasks.resume_stalled_payments() == 1

    statuses = dict(Payment.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: "succeeded", queued.pk: "pending", started.pk: "pending"}
    assert Payment.objects.get(pk=lost.pk).attempts == 1

    untouched_for(started, 301)
    assert tasks.resume_stalled_payments() == 1
    started.refresh_from_db()
    assert (started.status, started.attempts) == ("succeeded", 2)  # the next attempt


def test_stalled_charges_are_queued_again_oldest_first() -> None:
    # The oldest orders are the nearest to their reservation's end.
    payments = [PaymentFactory(payment_token="tok_ok") for _ in range(3)]
    for age, payment in zip((3, 1, 2), payments, strict=True):
        Payment.objects.filter(pk=payment.pk).update(
            created_at=timezone.now() - timedelta(hours=age)
        )
        untouched_for(payment, 600)

    call_command("resume_stalled_payments")

    charged = FakeGatewayRequest.objects.order_by("created_at", "id")
    assert list(charged.values_list("payment_id", flat=True)) == [
        payments[0].pk,
        payments[2].pk,
        payments[1].pk,
    ]


@pytest.mark.postgres
def test_the_sweep_finds_owed_refunds_and_unsettled_charges_by_their_own_indexes() -> None:
    # A few rows among every payment ever made, looked for every minute: not by a scan of
    # them all (55 ms a query at 500,000 payments, both cores, before these indexes).
    from django.db import connection
    from django.db.models import Q

    from apps.payments.services import _REFUNDABLE

    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Payment._meta.db_table}
                (id, cart_id, email, amount, currency, status, gateway, payment_token,
                 idempotency_key, gateway_reference, failure_code, attempts, refund_reference,
                 refund_idempotency_key, created_at, updated_at)
                SELECT gen_random_uuid(), gen_random_uuid(), 'a@example.com', 10, 'EUR',
                       'succeeded', 'fake', 'tok_ok', 'key' || n, 'ref' || n, '', 1, '', '',
                       now() - interval '2 days', now() - interval '1 day'
                  FROM generate_series(1, 20000) AS n"""
        )
        cursor.execute(f"ANALYZE {Payment._meta.db_table}")
    cutoff = timezone.now() - timedelta(minutes=5)
    owed = Payment.objects.filter(
        _REFUNDABLE, refund_owed_since__isnull=False, updated_at__lt=cutoff
    )
    unsettled = Payment.objects.filter(
        Q(charge_unsettled_since__isnull=False), updated_at__lt=cutoff
    )

    assert "payment_refund_owed" in owed.explain()
    assert "payment_charge_unsettled" in unsettled.explain()
