"""The notification log in the admin: filters, the HTML preview, and resending."""

from collections.abc import Callable
from uuid import uuid4

import pytest
from django.core import mail
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.notifications.models import Notification, Subscription
from ecommerce.accounts.models import User
from tests.notifications.conftest import checkout_event, deliver, send_retries
from tests.notifications.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/notifications/notification/"


@pytest.fixture
def admin_client() -> Client:
    staff = User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    client = Client()
    client.force_login(staff)
    return client


def test_the_log_filters_by_kind_status_and_channel(admin_client: Client, ann: User) -> None:
    deliver(checkout_event(user_id=ann.pk))

    response = admin_client.get(CHANGELIST, {"kind": "order_received", "channel": "in_app"})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset.values_list("channel", flat=True)) == ["in_app"]
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert filters == ["kind", "status", "channel"]


def test_a_notification_page_shows_its_bodies(admin_client: Client) -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()

    response = admin_client.get(f"{CHANGELIST}{notification.pk}/change/")

    assert response.status_code == 200
    assert b"Total: 29.25 EUR" in response.content
    assert b"<iframe sandbox srcdoc=" in response.content


def test_resending_a_failed_email_sends_it_again_with_fresh_attempts(
    admin_client: Client, settings: SettingsWrapper
) -> None:
    settings.NOTIFICATION_MAX_ATTEMPTS = 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1  # nothing listens: refused
    deliver(checkout_event())
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("failed", 1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    response = admin_client.post(
        CHANGELIST, {"action": "resend", "_selected_action": [str(notification.pk)]}, follow=True
    )

    assert response.status_code == 200
    assert "1 notifications resent." in [str(m) for m in response.context["messages"]]
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 1, "")
    assert [m.subject for m in mail.outbox] == ["Example Shop: we received your order"]
    assert send_retries() == []


def test_resending_a_pending_email_leaves_it_on_its_way(admin_client: Client) -> None:
    deliver(checkout_event())
    Notification.objects.update(status="pending")
    mail.outbox.clear()

    response = admin_client.post(
        CHANGELIST,
        {"action": "resend", "_selected_action": [str(Notification.objects.get().pk)]},
        follow=True,
    )

    assert mail.outbox == []
    assert [str(m) for m in response.context["messages"]] == [
        "1 notifications are still on their way (pending); not resent."
    ]


def test_staff_without_the_notification_permission_cannot_resend_customer_emails(
    make_user: Callable[..., User],
) -> None:
    deliver(checkout_event())
    email = Notification.objects.get(channel="email")
    mail.outbox.clear()
    client = Client()
    client.force_login(make_user("editor@example.com", staff=True))  # a catalog editor

    listed = client.get(CHANGELIST)
    client.post(CHANGELIST, {"action": "resend", "_selected_action": [str(email.pk)]})

    assert listed.status_code == 403
    assert mail.outbox == []


def test_subscriptions_are_listed(admin_client: Client, make_user: Callable[..., User]) -> None:
    SubscriptionFactory(user=make_user("bob@example.com"))

    response = admin_client.get("/admin/notifications/subscription/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_subscriptions_are_read_only_but_can_be_deleted(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    subscription = SubscriptionFactory(user=make_user("bob@example.com"))
    page = f"/admin/notifications/subscription/{subscription.pk}/change/"

    added = admin_client.post("/admin/notifications/subscription/add/", {"kind": "price_drop"})
    edited = admin_client.post(page, {"kind": "price_drop", "product_id": str(uuid4())})
    shown = admin_client.get(page)
    deleted = admin_client.post(
        f"/admin/notifications/subscription/{subscription.pk}/delete/", {"post": "yes"}
    )

    assert (added.status_code, edited.status_code, shown.status_code) == (403, 403, 200)
    assert deleted.status_code == 302
    assert not Subscription.objects.exists()
