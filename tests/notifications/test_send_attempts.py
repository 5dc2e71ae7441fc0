"""Each send attempt of an email is made by one task. A send task carries the number of the
attempt it makes and takes the email only while the attempt before it is the last made, so
copies of a task (the stalled sweep's, of one that was only late) neither send twice nor try
ahead of a retry's backoff, and an email is not used up during a mail server's outage."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.notifications.models import Notification
from apps.notifications.tasks import send_notification
from tests.notifications.conftest import (
    checkout_event,
    deliver,
    run_due_send_retries,
    send_retries,
    sent_events,
)
from tests.notifications.smtp import LocalSmtpServer

pytestmark = pytest.mark.django_db(transaction=True)


def never_tried(notification: Notification, *, seconds_ago: float) -> None:
    """As if its task were lost (or still waiting in a backlog) since ``seconds_ago``."""
    Notification.objects.filter(pk=notification.pk).update(
        status="pending",
        attempts=0,
        sent_at=None,
        updated_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_copies_of_a_late_task_wait_for_the_retry_after_the_mail_server_refused(
    smtp_server: LocalSmtpServer,
) -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()
    never_tried(notification, seconds_ago=45)
    smtp_server.handler.refusals = -1  # the mail server refuses everything for now
    smtp_server.handler.messages.clear()
    sent_before = len(sent_events())  # the email's first life, before it was made never tried
    # A backlog: the sweep ran while the task still waited in the queue, so copies of it
    # (attempt 1) wait behind it. The late task is refused, then its copies run.
    copies = 3

    assert send_notification(str(notification.id), "1") == "pending"
    for _ in range(copies):
        assert send_notification(str(notification.id), "1") == "pending"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert smtp_server.handler.refused == 1  # the copies made no attempt
    [retry] = send_retries()  # the one retry, after its backoff
    assert retry.next_run > timezone.now()

    smtp_server.handler.refusals = 0
    run_due_send_retries()
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)
    assert len(smtp_server.handler.messages) == 1
    assert sent_events()[sent_before:] == [str(notification.id)]


def test_a_task_queued_before_attempts_were_numbered_makes_the_next_one() -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(status="pending", attempts=2)
    mail.outbox.clear()

    assert send_notification(str(notification.id)) == "sent"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 3)
    assert len(mail.outbox) == 1
