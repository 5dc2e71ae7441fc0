"""The in-app inbox and product alerts through the API: own only, errors in the one shape."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from apps.notifications.models import Notification, Subscription
from ecommerce.accounts.models import User
from tests.cart.factories import make_product
from tests.notifications.factories import InAppNotificationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

Client = Callable[[User], APIClient]


@pytest.fixture
def client_for() -> Client:
    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


def error(response: object) -> tuple[int, str]:
    body = response.json()  # type: ignore[attr-defined]
    return response.status_code, body["errors"][0]["code"]  # type: ignore[attr-defined]


# -- the inbox -----------------------------------------------------------------------------------


def test_the_inbox_lists_the_users_own_in_app_notifications_newest_first(
    ann: User, make_user: Callable[..., User], client_for: Client
) -> None:
    now = timezone.now()
    older = InAppNotificationFactory(user=ann, subject="Older")
    newer = InAppNotificationFactory(user=ann, subject="Newer", order_id=uuid4())
    Notification.objects.filter(pk=older.pk).update(created_at=now - timedelta(hours=1))
    Notification.objects.filter(pk=newer.pk).update(created_at=now)
    InAppNotificationFactory(user=make_user("bob@example.com"), subject="Bob's")
    InAppNotificationFactory(user=ann, subject="Not rendered", status="failed")

    response = client_for(ann).get("/api/v1/notifications/")

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    assert [n["subject"] for n in body["results"]] == ["Newer", "Older"]
    assert body["results"][0] == {
        "id": str(newer.id),
        "kind": "order_received",
        "subject": "Newer",
        "body": "We received your order.",
        "read": False,
        "read_at": None,
        "order_id": str(newer.order_id),
        "product_id": None,
        "created_at": body["results"][0]["created_at"],
    }


def test_the_inbox_is_paginated_in_a_fixed_number_of_queries(
    ann: User, client_for: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    InAppNotificationFactory.create_batch(25, user=ann)
    client = client_for(ann)

    with django_assert_num_queries(2):  # count, page
        response = client.get("/api/v1/notifications/?page=2&page_size=10")

    body = response.json()
    assert (body["count"], len(body["results"])) == (25, 10)
    assert body["next"].endswith("page=3&page_size=10")


def test_marking_one_read_sets_it_once(ann: User, client_for: Client) -> None:
    notification = InAppNotificationFactory(user=ann)
    client = client_for(ann)

    first = client.post(f"/api/v1/notifications/{notification.id}/read")
    again = client.post(f"/api/v1/notifications/{notification.id}/read")

    assert (first.status_code, first.json()["read"]) == (200, True)
    assert again.json()["read_at"] == first.json()["read_at"]


def test_someone_elses_notification_cannot_be_marked_read(
    ann: User, make_user: Callable[..., User], client_for: Client
) -> None:
    bobs = InAppNotificationFactory(user=make_user("bob@example.com"))

    response = client_for(ann).post(f"/api/v1/notifications/{bobs.id}/read")

    assert error(response) == (404, "not_found")
    bobs.refresh_from_db()
    assert bobs.read_at is None


def test_read_all_marks_only_the_users_unread_ones(
    ann: User, make_user: Callable[..., User], client_for: Client
) -> None:
    InAppNotificationFactory.create_batch(3, user=ann)
    InAppNotificationFactory(user=ann, read_at=timezone.now())
    bobs = InAppNotificationFactory(user=make_user("bob@example.com"))

    response = client_for(ann).post("/api/v1/notifications/read-all")

    assert (response.status_code, response.json()) == (200, {"marked_read": 3})
    assert not Notification.objects.filter(user=ann, read_at__isnull=True).exists()
    bobs.refresh_from_db()
    assert bobs.read_at is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/notifications/"),
        ("post", f"/api/v1/notifications/{uuid4()}/read"),
        ("post", "/api/v1/notifications/read-all"),
        ("get", "/api/v1/notifications/subscriptions"),
        ("post", "/api/v1/notifications/subscriptions"),
        ("get", f"/api/v1/notifications/subscriptions/{uuid4()}"),
        ("delete", f"/api/v1/notifications/subscriptions/{uuid4()}"),
    ],
)
def test_anonymous_callers_are_refused(api: APIClient, method: str, path: str) -> None:
    response = getattr(api, method)(path)

    assert error(response) == (401, "not_authenticated")


# -- subscriptions -------------------------------------------------------------------------------


def test_subscribing_to_a_product(ann: User, client_for: Client) -> None:
    lamp = make_product(stock=0)

    response = client_for(ann).post(
        "/api/v1/notifications/subscriptions",
        {"product_id": str(lamp.id), "kind": "back_in_stock"},
    )

    assert response.status_code == 201
    subscription = Subscription.objects.get()
    assert response.json() == {
        "id": str(subscription.id),
        "product_id": str(lamp.id),
        "kind": "back_in_stock",
        "price_when_subscribed": None,
        "active": True,
        "fulfilled_at": None,
        "created_at": response.json()["created_at"],
    }
    assert (subscription.user_id, subscription.kind) == (ann.pk, "back_in_stock")


def test_a_price_drop_alert_keeps_the_price_the_shopper_subscribed_at(
    ann: User, client_for: Client
) -> None:
    lamp = make_product(price="30.00")

    response = client_for(ann).post(
        "/api/v1/notifications/subscriptions", {"product_id": str(lamp.id), "kind": "price_drop"}
    )

    assert response.status_code == 201
    assert response.json()["price_when_subscribed"] == "30.00"
    assert Subscription.objects.get().price_when_subscribed == Decimal("30.00")


def test_listing_getting_and_deleting_own_subscriptions(
    ann: User, make_user: Callable[..., User], client_for: Client
) -> None:
    mine = SubscriptionFactory(user=ann)
    SubscriptionFactory(user=make_user("bob@example.com"))
    client = client_for(ann)

    listed = client.get("/api/v1/notifications/subscriptions")
    got = client.get(f"/api/v1/notifications/subscriptions/{mine.id}")
    deleted = client.delete(f"/api/v1/notifications/subscriptions/{mine.id}")

    assert [s["id"] for s in listed.json()["results"]] == [str(mine.id)]
    assert (got.status_code, got.json()["id"]) == (200, str(mine.id))
    assert deleted.status_code == 204
    assert not Subscription.objects.filter(user=ann).exists()


def test_someone_elses_subscription_is_not_found_and_stays(
    ann: User, make_user: Callable[..., User], client_for: Client
) -> None:
    bobs = SubscriptionFactory(user=make_user("bob@example.com"))
    client = client_for(ann)

    got = client.get(f"/api/v1/notifications/subscriptions/{bobs.id}")
    deleted = client.delete(f"/api/v1/notifications/subscriptions/{bobs.id}")

    assert error(got) == (404, "not_found")
    assert error(deleted) == (404, "not_found")
    assert Subscription.objects.filter(pk=bobs.pk).exists()


def test_subscribing_to_an_unknown_or_unpublished_product_is_not_found(
    ann: User, client_for: Client
) -> None:
    draft = make_product(status="draft")
    client = client_for(ann)

    for product_id in (uuid4(), draft.id):
        response = client.post(
            "/api/v1/notifications/subscriptions",
            {"product_id": str(product_id), "kind": "price_drop"},
        )
        assert error(response) == (404, "not_found")
    assert not Subscription.objects.exists()


def test_subscribing_to_a_discontinued_product_is_refused(ann: User, client_for: Client) -> None:
    gone = make_product(status="discontinued")

    response = client_for(ann).post(
        "/api/v1/notifications/subscriptions", {"product_id": str(gone.id), "kind": "price_drop"}
    )

    assert error(response) == (409, "product_unavailable")
    assert not Subscription.objects.exists()


def test_a_duplicate_subscription_is_refused(ann: User, client_for: Client) -> None:
    lamp = make_product()
    SubscriptionFactory(user=ann, product_id=lamp.id, kind="price_drop")

    response = client_for(ann).post(
        "/api/v1/notifications/subscriptions", {"product_id": str(lamp.id), "kind": "price_drop"}
    )

    assert error(response) == (409, "duplicate_subscription")
    assert Subscription.objects.count() == 1


def test_the_other_kind_for_the_same_product_is_a_new_subscription(
    ann: User, client_for: Client
) -> None:
    lamp = make_product()
    SubscriptionFactory(user=ann, product_id=lamp.id, kind="price_drop")

    response = client_for(ann).post(
        "/api/v1/notifications/subscriptions",
        {"product_id": str(lamp.id), "kind": "back_in_stock"},
    )

    assert response.status_code == 201
    assert Subscription.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"product_id": "PRODUCT", "kind": "sale"}, "kind", "invalid_choice"),
        ({"product_id": "not-a-uuid", "kind": "price_drop"}, "product_id", "invalid"),
        ({"kind": "price_drop"}, "product_id", "required"),
        ({"product_id": "PRODUCT", "kind": "price_drop", "price": "1"}, "price", "unknown_field"),
    ],
)
def test_bad_input_is_a_validation_error(
    ann: User, client_for: Client, body: dict[str, str], attr: str, code: str
) -> None:
    lamp = make_product()
    body = {k: (str(lamp.id) if v == "PRODUCT" else v) for k, v in body.items()}

    response = client_for(ann).post("/api/v1/notifications/subscriptions", body)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [(attr, code)]
    assert not Subscription.objects.exists()
