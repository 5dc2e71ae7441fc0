"""The notification log in the admin: filters, the HTML preview, and resending."""

import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.http import HttpResponse
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.notifications.models import Notification, Subscription
from ecommerce.accounts.models import User
from ecommerce.common.admin import ACTION_LIMIT
from ecommerce.core.idempotency import OnceFormField
from tests.notifications.conftest import checkout_event, deliver, send_retries
from tests.notifications.factories import InAppNotificationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/notifications/notification/"


def form_id(page: HttpResponse) -> str:
    """The one-time id of the confirmation form on ``page``."""
    assert page.status_code == 200, page.content
    found = re.search(rb'name="request_id" value="([^"]+)"', page.content)
    assert found is not None, page.content
    return found.group(1).decode()


def resend(client: Client, *ids: object) -> tuple[HttpResponse, dict[str, Any]]:
    """Choose "Resend" for ``ids``, then confirm on the page it asks on. Returns the answer
    (redirects followed) and what the confirmation sent, to send it again."""
    selected = {"action": "resend", "_selected_action": [str(pk) for pk in ids]}
    page = client.post(CHANGELIST, selected)
    confirmed = {**selected, "request_id": form_id(page), "confirm": "Yes"}
    return client.post(CHANGELIST, confirmed, follow=True), confirmed


def told(response: HttpResponse) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def admin_client() -> Client:
    staff = User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    client = Client()
    client.force_login(staff)
    return client


def test_the_log_filters_by_kind_status_channel_and_date(admin_client: Client, ann: User) -> None:
    deliver(checkout_event(user_id=ann.pk))

    response = admin_client.get(CHANGELIST, {"kind": "order_received", "channel": "in_app"})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset.values_list("channel", flat=True)) == ["in_app"]
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert filters == ["kind", "status", "channel", "created at"]


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

    response, _ = resend(admin_client, notification.pk)

    assert response.status_code == 200
    assert "1 notifications resent." in told(response)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 1, "")
    assert [m.subject for m in mail.outbox] == ["Example Shop: we received your order"]
    assert send_retries() == []


def test_resending_a_pending_email_leaves_it_on_its_way(admin_client: Client) -> None:
    deliver(checkout_event())
    Notification.objects.update(status="pending")
    mail.outbox.clear()

    response, _ = resend(admin_client, Notification.objects.get().pk)

    assert mail.outbox == []
    assert told(response) == ["1 notifications are still on their way (pending); not resent."]


def test_the_resend_asks_first_and_sends_nothing_until_confirmed(admin_client: Client) -> None:
    deliver(checkout_event())
    email = Notification.objects.get(channel="email")
    mail.outbox.clear()

    page = admin_client.post(CHANGELIST, {"action": "resend", "_selected_action": [str(email.pk)]})

    assert page.status_code == 200
    assert b"Send these 1 notifications again?" in page.content
    assert email.subject.encode() in page.content
    assert mail.outbox == []


def test_a_resend_confirmed_twice_emails_the_customer_once(admin_client: Client) -> None:
    deliver(checkout_event())
    email = Notification.objects.get(channel="email")
    mail.outbox.clear()

    first, confirmed = resend(admin_client, email.pk)
    again = admin_client.post(CHANGELIST, confirmed, follow=True)

    assert told(first) == ["1 notifications resent."]
    assert told(again) == ["Already resent; nothing sent now."]
    assert [m.subject for m in mail.outbox] == ["Example Shop: we received your order"]


def test_a_resend_confirmation_not_shown_by_the_admin_sends_nothing(
    admin_client: Client,
) -> None:
    deliver(checkout_event())
    email = Notification.objects.get(channel="email")
    mail.outbox.clear()
    forged = {"action": "resend", "_selected_action": [str(email.pk)], "confirm": "Yes"}

    response = admin_client.post(CHANGELIST, {**forged, "request_id": "made-up"}, follow=True)

    assert told(response) == ["This form is out of date; open the page again."]
    assert mail.outbox == []


def test_staff_without_the_notification_permission_cannot_resend_customer_emails(
    make_user: Callable[..., User],
) -> None:
    deliver(checkout_event())
    email = Notification.objects.get(channel="email")
    mail.outbox.clear()
    client = Client()
    client.force_login(make_user("editor@example.com", staff=True))  # a catalog editor

    listed = client.get(CHANGELIST)
    client.post(
        CHANGELIST,
        {
            "action": "resend",
            "_selected_action": [str(email.pk)],
            "request_id": OnceFormField.fresh(),
            "confirm": "Yes",
        },
    )

    assert listed.status_code == 403
    assert mail.outbox == []


def test_a_resend_of_every_notification_the_list_matches_names_none_by_id(
    admin_client: Client, ann: User, settings: SettingsWrapper
) -> None:
    # As Django's 1,000 fields at most, over a smaller list: the confirmation must not grow
    # with the selection.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 120
    InAppNotificationFactory.create_batch(150, user=ann)
    page_ids = [str(pk) for pk in Notification.objects.values_list("pk", flat=True)[:100]]
    chosen = {"action": "resend", "_selected_action": page_ids, "select_across": "1"}

    page = admin_client.post(CHANGELIST, chosen)
    confirmed = {**chosen, "request_id": form_id(page), "confirm": "Yes"}
    done = admin_client.post(CHANGELIST, confirmed, follow=True)

    assert b"Send these 150 notifications again?" in page.content
    assert b"The first 100 of 150 are listed." in page.content
    assert told(done) == ["150 notifications resent."]


def test_a_resend_of_more_notifications_than_an_action_takes_sends_none(
    admin_client: Client, ann: User
) -> None:
    Notification.objects.bulk_create(
        InAppNotificationFactory.build_batch(ACTION_LIMIT + 1, user=ann)
    )
    page_ids = [str(pk) for pk in Notification.objects.values_list("pk", flat=True)[:100]]
    chosen = {"action": "resend", "_selected_action": page_ids, "select_across": "1"}
    refused = [
        "More than 1,000 selected; nothing was done. An action works through at most 1,000 "
        "at a time: narrow the list with its filters or search, then run it again."
    ]
    before = sorted(Notification.objects.values_list("pk", "updated_at"))

    asked = admin_client.post(CHANGELIST, chosen, follow=True)
    confirmed = admin_client.post(
        CHANGELIST, {**chosen, "request_id": OnceFormField.fresh(), "confirm": "Yes"}, follow=True
    )

    assert told(asked) == told(confirmed) == refused
    assert sorted(Notification.objects.values_list("pk", "updated_at")) == before


def test_staff_who_may_only_view_notifications_cannot_resend_them(
    make_user: Callable[..., User],
) -> None:
    deliver(checkout_event())
    email = Notification.objects.get(channel="email")
    mail.outbox.clear()
    viewer = make_user("viewer@example.com", staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client = Client()
    client.force_login(viewer)
    confirmed = {
        "action": "resend",
        "_selected_action": [str(email.pk)],
        "request_id": OnceFormField.fresh(),
        "confirm": "Yes",
    }

    listed = client.get(CHANGELIST)
    client.post(CHANGELIST, confirmed)

    assert listed.status_code == 200  # may look
    assert mail.outbox == []
    email.refresh_from_db()
    assert email.status == "sent"


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
