"""Two workers on the same notification at once: the customer still gets one email."""

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.core import mail
from django.db import connection

from apps.notifications import services
from apps.notifications.models import Notification
from tests.notifications.conftest import checkout_event, deliver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def side_by_side(work: Callable[[], Any], times: int) -> list[Any]:
    """Run ``work`` in ``times`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(times)
    results: list[Any] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_the_same_event_handled_by_three_workers_at_once_notifies_once() -> None:
    event_id, order_id = uuid4(), uuid4()

    results = side_by_side(
        lambda: services.notify_order_received(
            source_event_id=event_id,
            order_id=order_id,
            user_id=None,
            email="ann@example.com",
            lines=[],
            total=Decimal("9.00"),
            currency="EUR",
        ),
        times=3,
    )

    assert sorted(len(r) for r in results) == [0, 0, 1]
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert len(mail.outbox) == 1


def test_two_send_tasks_for_the_same_email_at_once_send_it_once() -> None:
    deliver(checkout_event())
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(status="pending")
    mail.outbox.clear()

    results = side_by_side(
        lambda: services.notification_send(notification_id=notification.id), times=4
    )

    assert not [r for r in results if isinstance(r, Exception)]
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.lease_until) == (
        "sent",
        2,
        None,
    )
    assert len(mail.outbox) == 1
