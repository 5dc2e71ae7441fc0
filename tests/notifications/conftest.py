"""Helpers for the notifications tests: publish events as their apps do, read what was sent,
drive retries, and a real local SMTP server."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.cart.events import CartCheckedOut, CartLine
from apps.notifications.models import Notification
from ecommerce.accounts.models import User
from ecommerce.bus import Event, publish
from ecommerce.bus.models import OutboxEvent
from tests.notifications.smtp import LocalSmtpServer, RecordingHandler

SEND_TASK = "apps.notifications.tasks.send_notification"


def deliver(event: Event) -> Event:
    """Publish an event the way its app does: inside a transaction; the eager bus delivers it
    after commit, and django-q2 (sync in tests) sends the emails it queues."""
    with transaction.atomic():
        publish(event)
    return event


def checkout_event(**overrides: Any) -> CartCheckedOut:
    fields: dict[str, Any] = {
        "cart_id": uuid4(),
        "user_id": None,
        "email": "ann@example.com",
        "lines": (
            CartLine(
                product_id=uuid4(),
                sku="MUG-1",
                name="Mug",
                unit_price=Decimal("12.50"),
                quantity=2,
            ),
            CartLine(
                product_id=uuid4(),
                sku="TEA-7",
                name="Tea & Biscuits",
                unit_price=Decimal("4.25"),
                quantity=1,
            ),
        ),
        "total": Decimal("29.25"),
        "currency": "EUR",
        "payment_token": "tok_ok",
    }
    return CartCheckedOut(**{**fields, **overrides})


def notifications(**filters: Any) -> list[tuple[str, str, str, str]]:
    """(kind, channel, recipient, status) of the notifications, oldest first."""
    rows = Notification.objects.filter(**filters).order_by("created_at", "channel")
    return [(n.kind, n.channel, n.recipient, n.status) for n in rows]


def sent_mail() -> list[tuple[list[str], str]]:
    return [(message.to, message.subject) for message in mail.outbox]


def sent_events() -> list[str]:
    """The ids of the notifications ``NotificationSent`` was published for."""
    rows = OutboxEvent.objects.filter(event_type="notifications.NotificationSent")
    return [row.payload["notification_id"] for row in rows]


def send_retries() -> list[Schedule]:
    return list(Schedule.objects.filter(func=SEND_TASK).order_by("next_run"))


def run_due_send_retries() -> None:
    """Let the backoff pass, then run django-q2's own scheduler once (sync: tasks run inline)."""
    Schedule.objects.filter(func=SEND_TASK).update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user("ann@example.com")


@pytest.fixture
def smtp_server(settings: SettingsWrapper) -> Iterator[LocalSmtpServer]:
    """A real SMTP server on 127.0.0.1, and Django's SMTP backend pointed at it."""
    server = LocalSmtpServer(RecordingHandler())
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        server.stop()
