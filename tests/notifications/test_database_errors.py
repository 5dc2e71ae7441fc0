"""An email task whose database connection is cut under it runs again, at once and on a new
connection, only the step that failed: what the mail server said is recorded within the
task instead of waiting for the stalled-email sweep, and the email is not sent twice. The
server really ends the connection (``pg_terminate_backend``)."""

import smtplib
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.notifications.models import Notification
from apps.notifications.tasks import send_notification
from ecommerce.bus.models import OutboxEvent
from tests.notifications.conftest import checkout_event, deliver, send_retries, sent_events
from tests.postgres import answer_lost_after, terminate_own_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class ConnectionCutEmailBackend(EmailBackend):
    """Takes the message (or refuses it, when ``refuse`` is set), then the shop's database
    connection is cut before the shop records what happened: the first time only."""

    cuts = 0
    refuse = False

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        try:
            if ConnectionCutEmailBackend.refuse:
                raise smtplib.SMTPDataError(451, b"try again later")
            return super().send_messages(messages)
        finally:
            if not ConnectionCutEmailBackend.cuts:
                ConnectionCutEmailBackend.cuts += 1
                terminate_own_connection()


@pytest.fixture
def pending_email() -> Notification:
    """An order's email waiting to be sent."""
    deliver(checkout_event())
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(
        status="pending", attempts=0, sent_at=None, updated_at=timezone.now() - timedelta(1)
    )
    OutboxEvent.objects.filter(event_type="notifications.NotificationSent").delete()
    mail.outbox.clear()
    return notification


@pytest.fixture
def mail_server_then_cut(pending_email: Notification, settings: SettingsWrapper) -> Iterator[None]:
    """From now on (the email pending), the mail server cuts the connection once."""
    ConnectionCutEmailBackend.cuts, ConnectionCutEmailBackend.refuse = 0, False
    settings.EMAIL_BACKEND = f"{__name__}.ConnectionCutEmailBackend"
    yield
    assert ConnectionCutEmailBackend.cuts == 1, "the connection was never cut"


@pytest.mark.usefixtures("mail_server_then_cut")
def test_an_email_whose_connection_is_cut_after_the_server_took_it_is_recorded_sent_once(
    pending_email: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    assert send_notification(str(pending_email.id)) == "sent"

    pending_email.refresh_from_db()
    assert len(mail.outbox) == 1  # not sent again
    assert (pending_email.status, pending_email.attempts) == ("sent", 1)
    assert pending_email.sent_at is not None
    assert sent_events() == [str(pending_email.id)]
    assert send_retries() == []
    assert f"sending notification {pending_email.id}: database error" in caplog.text


@pytest.mark.usefixtures("mail_server_then_cut")
def test_a_refusal_whose_connection_is_cut_counts_one_attempt_and_keeps_its_backoff(
    pending_email: Notification,
) -> None:
    ConnectionCutEmailBackend.refuse = True

    assert send_notification(str(pending_email.id)) == "pending"

    pending_email.refresh_from_db()
    assert (pending_email.attempts, pending_email.lease_until) == (1, None)
    assert "SMTPDataError" in pending_email.last_error
    [retry] = send_retries()  # one retry, after its backoff
    assert retry.next_run > timezone.now()
    assert mail.outbox == []
    assert sent_events() == []


@pytest.mark.parametrize("attempt", ["1", None], ids=["numbered", "queued before numbering"])
def test_a_claim_whose_answer_was_lost_takes_its_own_lease_again_and_sends(
    pending_email: Notification, attempt: str | None
) -> None:
    with answer_lost_after("RETURNING *") as lost:  # the claim
        assert send_notification(str(pending_email.id), attempt) == "sent"

    assert lost, "no claim lost its answer"
    pending_email.refresh_from_db()
    assert (pending_email.status, pending_email.attempts) == ("sent", 1)
    assert len(mail.outbox) == 1
    assert sent_events() == [str(pending_email.id)]


def test_another_tasks_lease_is_still_respected(pending_email: Notification) -> None:
    leased_until = timezone.now() + timedelta(minutes=5)
    Notification.objects.filter(pk=pending_email.pk).update(attempts=1, lease_until=leased_until)

    assert send_notification(str(pending_email.id)) == "pending"

    pending_email.refresh_from_db()
    assert (pending_email.attempts, pending_email.lease_until) == (1, leased_until)
    assert mail.outbox == []
