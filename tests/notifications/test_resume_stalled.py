"""Emails whose send task was lost are queued again, by the schedule or the command."""

from datetime import timedelta
from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from apps.notifications import services
from apps.notifications.models import Notification
from apps.notifications.tasks import resume_stalled_notifications
from tests.notifications.conftest import SEND_TASK, checkout_event, deliver

pytestmark = pytest.mark.django_db(transaction=True)


def stall(notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        status="pending", updated_at=timezone.now() - timedelta(hours=1)
    )


def test_a_stalled_email_is_sent_once_more() -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()
    stall(notification)
    mail.outbox.clear()

    out = StringIO()
    call_command("resume_stalled_notifications", stdout=out)

    assert out.getvalue() == "1 stalled notifications queued for sending again.\n"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1


def test_stalled_emails_are_sent_again_oldest_first() -> None:
    # All of them lost at once (the broker flushed): an order's emails keep their order.
    for n, email in enumerate(["first@example.com", "second@example.com", "third@example.com"]):
        deliver(checkout_event(email=email))
        Notification.objects.filter(email=email).update(
            created_at=timezone.now() - timedelta(hours=3 - n)
        )
    for notification in Notification.objects.all():
        stall(notification)
    mail.outbox.clear()

    assert resume_stalled_notifications() == 3

    assert [message.to for message in mail.outbox] == [
        ["first@example.com"],
        ["second@example.com"],
        ["third@example.com"],
    ]


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e20", "-1", "soon"])
def test_the_sweep_refuses_a_bad_older_than_and_sends_nothing(seconds: str) -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()
    stall(notification)
    mail.outbox.clear()

    with pytest.raises(CommandError, match="--older-than"):
        call_command("resume_stalled_notifications", "--older-than", seconds)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts, mail.outbox) == ("pending", 1, [])


def test_an_email_waiting_for_its_retry_or_recently_touched_is_left_alone() -> None:
    deliver(checkout_event())
    deliver(checkout_event(email="bob@example.com"))
    waiting, fresh = Notification.objects.order_by("created_at")
    stall(waiting)
    Schedule.objects.create(
        name="a retry", func=SEND_TASK, args=repr(str(waiting.id)), schedule_type=Schedule.ONCE
    )
    Notification.objects.filter(pk=fresh.pk).update(status="pending")
    mail.outbox.clear()

    assert services.notifications_resume_stalled() == 0
    assert mail.outbox == []


def test_the_sweep_is_scheduled_every_minute_and_its_task_runs() -> None:
    # transaction=True tests flush tables, so run the data migrations' functions again.
    import_module("apps.notifications.migrations.0002_resume_stalled_schedule").create_schedule(
        django_apps, None
    )
    import_module("apps.notifications.migrations.0005_resume_stalled_every_minute").every_minute(
        django_apps, None
    )

    schedule = Schedule.objects.get(name="notifications: resume stalled sends")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "apps.notifications.tasks.resume_stalled_notifications",
        "I",
        1,
        -1,
    )
    assert resume_stalled_notifications() == 0


def test_an_email_never_tried_is_queued_again_after_30_s_a_tried_one_later() -> None:
    for email in ("lost@example.com", "queued@example.com", "tried@example.com"):
        deliver(checkout_event(email=email))
    lost, queued, tried = (
        Notification.objects.get(email=e)
        for e in ("lost@example.com", "queued@example.com", "tried@example.com")
    )
    ago = timezone.now() - timedelta(seconds=45)
    Notification.objects.filter(pk__in=[lost.pk, queued.pk]).update(status="pending", attempts=0)
    # Tried once: its worker may still be at the mail server.
    Notification.objects.filter(pk=tried.pk).update(status="pending", attempts=1)
    Notification.objects.exclude(pk=queued.pk).update(updated_at=ago)
    Notification.objects.filter(pk=queued.pk).update(
        updated_at=timezone.now() - timedelta(seconds=10)
    )
    mail.outbox.clear()

    assert resume_stalled_notifications() == 1

    assert [message.to for message in mail.outbox] == [["lost@example.com"]]
    statuses = dict(Notification.objects.values_list("email", "status"))
    assert statuses == {
        "lost@example.com": "sent",
        "queued@example.com": "pending",
        "tried@example.com": "pending",
    }

    Notification.objects.filter(pk=tried.pk).update(
        updated_at=timezone.now() - timedelta(seconds=601)
    )
    assert resume_stalled_notifications() == 1
    assert [message.to for message in mail.outbox][1:] == [["tried@example.com"]]


def test_a_task_for_an_email_another_task_is_sending_does_nothing() -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(
        status="pending", lease_until=timezone.now() + timedelta(minutes=1)
    )
    mail.outbox.clear()

    services.notification_send(notification_id=notification.id)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert mail.outbox == []
