"""Sending for real: Django's SMTP backend talking to an SMTP server on 127.0.0.1.

A refusal is retried by a one-off django-q2 schedule with backoff; the tests run django-q2's
own scheduler once the backoff has passed, as a cluster would.
"""

import socket

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.notifications.models import Notification
from ecommerce.bus.models import Delivery, OutboxEvent
from tests.notifications.conftest import (
    checkout_event,
    deliver,
    run_due_send_retries,
    send_retries,
)
from tests.notifications.smtp import LocalSmtpServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_server_receives_the_message_with_a_text_and_an_html_part(
    smtp_server: LocalSmtpServer,
) -> None:
    deliver(checkout_event())

    [message] = smtp_server.handler.messages
    notification = Notification.objects.get()
    assert smtp_server.handler.envelopes == [("shop@localhost", ["ann@example.com"])]
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Example Shop <shop@localhost>"
    assert message["Subject"] == "Example Shop: we received your order"
    assert message["X-Notification-Id"] == str(notification.id)
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Total: 29.25 EUR" in text.get_content()
    assert "<strong>Total: 29.25 EUR</strong>" in html.get_content()
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 1, "")
    assert notification.sent_at is not None


def test_refused_twice_then_accepted_is_sent_once_on_the_third_attempt(
    smtp_server: LocalSmtpServer,
) -> None:
    smtp_server.handler.refusals = 2

    deliver(checkout_event())

    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert notification.last_error.startswith("SMTPDataError: (451")
    [retry] = send_retries()
    assert retry.args == f"{str(notification.id)!r}, '2'"  # attempt 2 of this email

    run_due_send_retries()
    run_due_send_retries()

    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 3, "")
    assert smtp_server.handler.refused == 2
    assert len(smtp_server.handler.messages) == 1
    assert send_retries() == []
    assert OutboxEvent.objects.filter(event_type="notifications.NotificationSent").count() == 1


def test_refused_every_time_is_failed_with_the_error_and_the_relay_never_sees_it(
    smtp_server: LocalSmtpServer, settings: SettingsWrapper
) -> None:
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    smtp_server.handler.refusals = -1

    deliver(checkout_event())
    for _ in range(4):
        run_due_send_retries()

    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert notification.last_error.startswith("SMTPDataError: (451")
    assert "Mailbox busy" in notification.last_error
    assert smtp_server.handler.refused == 3
    assert smtp_server.handler.messages == []
    assert send_retries() == []
    delivery = Delivery.objects.get(subscriber="notifications.order_received")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, "")
    [failed] = OutboxEvent.objects.filter(event_type="notifications.NotificationFailed")
    assert failed.payload["attempts"] == 3
    assert failed.payload["error"] == notification.last_error


def test_a_server_that_is_down_is_retried_like_a_refusal(settings: SettingsWrapper) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # a port of ours that does not listen: refused
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = closed.getsockname()[1]
        settings.EMAIL_TIMEOUT = 2

        deliver(checkout_event())

    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert notification.last_error.startswith("ConnectionRefusedError")
    assert len(send_retries()) == 1
