"""A shop's own templates: they override the built-in ones, and a broken one fails only its
own notification, with the reason, without stopping the relay or other notifications."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core import mail
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.notifications import services
from apps.notifications.models import Notification
from ecommerce.accounts.models import User
from ecommerce.bus.models import Delivery, OutboxEvent
from tests.notifications.conftest import checkout_event, deliver, notifications

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop_templates(settings: SettingsWrapper, tmp_path: Path) -> Callable[[str, str], None]:
    """Put a template in the shop's own template directory (searched before the app's)."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]

    def write(name: str, content: str) -> None:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    return write


def test_a_shop_overrides_a_template_by_its_path(
    shop_templates: Callable[[str, str], None],
) -> None:
    shop_templates(
        "notifications/order_received/subject.txt", "Thanks! Order of {{ total }} {{ currency }}"
    )

    deliver(checkout_event())

    [message] = mail.outbox
    assert message.subject == "Thanks! Order of 29.25 EUR"
    assert "Total: 29.25 EUR" in message.body  # the other templates are still the app's


def test_a_broken_template_fails_its_notification_with_the_reason_and_nothing_else(
    shop_templates: Callable[[str, str], None], ann: User
) -> None:
    shop_templates("notifications/order_received/body.html", "{% if %}broken{% endif %}")

    deliver(checkout_event(user_id=ann.pk))
    deliver(checkout_event(email="bob@example.com"))

    email = Notification.objects.get(recipient="ann@example.com")
    assert (email.status, email.attempts, email.subject) == ("failed", 0, "")
    assert email.last_error.startswith(
        "template notifications/order_received/body.html failed: TemplateSyntaxError"
    )
    assert notifications(recipient=str(ann.pk)) == [
        ("order_received", "in_app", str(ann.pk), "sent")
    ]
    assert mail.outbox == []  # bob's order uses the same broken template
    ours = Delivery.objects.filter(subscriber__startswith="notifications.")
    assert set(ours.values_list("status", flat=True)) == {"delivered"}
    failed = OutboxEvent.objects.filter(event_type="notifications.NotificationFailed")
    assert [e.payload["error"] for e in failed] == [
        "template notifications/order_received/body.html failed: "
        "TemplateSyntaxError: Unexpected end of expression in if tag."
    ] * 2


def test_once_the_template_is_fixed_the_failed_notification_can_be_resent(
    shop_templates: Callable[[str, str], None],
) -> None:
    shop_templates("notifications/order_received/body.txt", "{{ total|no_such_filter }}")
    deliver(checkout_event())
    notification = Notification.objects.get()
    assert notification.status == "failed"

    shop_templates("notifications/order_received/body.txt", "Your total: {{ total }}")
    services.notification_resend(notification_id=notification.id)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 1, "")
    [message] = mail.outbox
    assert message.body == "Your total: 29.25\n"


def test_text_bodies_are_not_html_escaped_but_html_bodies_are() -> None:
    deliver(checkout_event())

    [message] = mail.outbox
    assert "Tea & Biscuits" in message.body
    assert "Tea &amp; Biscuits" in message.alternatives[0][0]  # type: ignore[attr-defined]
