"""Helpers for the payments tests: publish a checkout as the cart app will, drive retries."""

import ast
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from rest_framework.test import APIClient

from apps.cart.events import CartCheckedOut, CartLine
from apps.payments.models import Payment, PaymentEvent
from apps.payments.tasks import charge_payment
from ecommerce.accounts.models import User
from ecommerce.bus import publish
from ecommerce.bus.models import OutboxEvent

CHARGE_TASK = "apps.payments.tasks.charge_payment"


def checkout_event(**overrides: Any) -> CartCheckedOut:
    fields: dict[str, Any] = {
        "cart_id": uuid4(),
        "user_id": None,
        "email": "shopper@example.com",
        "lines": (
            CartLine(
                product_id=uuid4(),
                sku="MUG-1",
                name="Mug",
                unit_price=Decimal("12.50"),
                quantity=2,
            ),
        ),
        "total": Decimal("25.00"),
        "currency": "EUR",
        "payment_token": "tok_ok",
    }
    return CartCheckedOut(**{**fields, **overrides})


def publish_checkout(**overrides: Any) -> CartCheckedOut:
    """Publish CartCheckedOut the way cart_checkout does: inside its transaction."""
    event = checkout_event(**overrides)
    with transaction.atomic():
        publish(event)
    return event


def payment_of(cart_id: UUID) -> Payment:
    return Payment.objects.get(cart_id=cart_id)


def kinds(payment: Payment) -> list[str]:
    """The kinds of the payment's log rows, oldest first."""
    return list(PaymentEvent.objects.filter(payment=payment).values_list("kind", flat=True))


def published(event_type: str) -> list[dict[str, Any]]:
    rows = OutboxEvent.objects.filter(event_type=event_type).order_by("id")
    return [row.payload for row in rows]


def charge_retries() -> list[Schedule]:
    return list(Schedule.objects.filter(func=CHARGE_TASK).order_by("next_run"))


def run_due_charge_retries() -> None:
    """Let the backoff pass, then run django-q2's own scheduler once.

    With ``sync`` on, the scheduler's ``async_task`` runs each due task inline, so this is
    exactly what a cluster would do, minus the waiting.
    """
    Schedule.objects.filter(func=CHARGE_TASK).update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())


def run_charge_retries_inline() -> None:
    """What django-q2's scheduler does with each charge retry once its time has come, and
    nothing else (a test database may hold the sweeps' and the expiry's schedules too)."""
    for schedule in Schedule.objects.filter(func=CHARGE_TASK):
        schedule.delete()
        charge_payment(*ast.literal_eval(f"({schedule.args},)"))


def may_refund(user: User) -> User:
    """Give ``user`` the permission refunds need (``payments.refund_payment``)."""
    user.user_permissions.add(
        Permission.objects.get_by_natural_key("refund_payment", "payments", "payment")
    )
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached per object


@pytest.fixture
def refund_api(make_user: Callable[..., User]) -> APIClient:
    """A staff member who may refund."""
    client = APIClient()
    client.force_authenticate(may_refund(make_user("refunds@example.com", staff=True)))
    return client
