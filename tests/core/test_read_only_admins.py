"""Admin records staff look at but never edit: payments, notifications, deliveries and
idempotency keys. Their actions (refund, resend, retry and discard) go through the services;
a record's own page must not write the row back, as it was loaded, over a change that landed
meanwhile (a refund, a sent email, a delivery the relay made)."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from apps.notifications.models import Notification
from apps.products import services as products
from ecommerce.accounts.models import User
from ecommerce.bus.models import Delivery
from ecommerce.core.models import IdempotencyKey
from tests.admin_pages import form_as_shown
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(
        User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    )
    return client


def a_payment() -> Model:
    return PaymentFactory(succeeded=True, amount=Decimal("25.00"))


def an_email() -> Model:
    return Notification.objects.create(
        kind="order_received",
        channel="email",
        recipient="ann@example.com",
        email="ann@example.com",
        subject="Your order",
        body_text="Thanks.",
        source_event_id=uuid.uuid4(),
    )


def a_delivery() -> Model:
    products.product_create(sku="TENT-1", name="Tent", price=Decimal("99.00"))
    return Delivery.objects.get(subscriber="inventory.create_stock")


def an_idempotency_key() -> Model:
    return IdempotencyKey.objects.create(
        scope="user:1",
        key="checkout-1",
        fingerprint="0" * 64,
        response_status=202,
        response_body={},
        created_at=timezone.now(),
    )


RECORDS = [
    pytest.param(a_payment, "payments/payment", id="payment"),
    pytest.param(an_email, "notifications/notification", id="notification"),
    pytest.param(a_delivery, "bus/delivery", id="delivery"),
    pytest.param(an_idempotency_key, "core/idempotencykey", id="idempotency key"),
]


def row(model_object: Model) -> dict[str, Any]:
    return type(model_object).objects.filter(pk=model_object.pk).values().get()


@pytest.mark.parametrize(("make", "path"), RECORDS)
def test_a_records_page_is_view_only_and_a_save_posted_to_it_is_refused(
    admin_client: Client, make: Callable[[], Model], path: str
) -> None:
    record = make()
    type(record).objects.filter(pk=record.pk).update(  # untouched for an hour
        **{
            field.name: timezone.now() - timedelta(hours=1)
            for field in record._meta.fields
            if field.name == "updated_at"
        }
    )
    before = row(record)
    url = f"/admin/{path}/{record.pk}/change/"

    page = admin_client.get(url)
    response = admin_client.post(url, {**form_as_shown(page), "_save": "Save"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    assert row(record) == before


@pytest.mark.parametrize(("make", "path"), RECORDS)
def test_records_cannot_be_deleted(
    admin_client: Client, make: Callable[[], Model], path: str
) -> None:
    record = make()

    page = admin_client.post(f"/admin/{path}/{record.pk}/delete/", {"post": "yes"})
    admin_client.post(
        f"/admin/{path}/",
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )

    assert page.status_code == 403
    assert type(record).objects.filter(pk=record.pk).exists()


def test_staff_without_model_permissions_still_see_payments(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user("clerk@example.com", staff=True))
    payment = a_payment()

    assert client.get("/admin/payments/payment/").status_code == 200
    assert client.get(f"/admin/payments/payment/{payment.pk}/change/").status_code == 200
