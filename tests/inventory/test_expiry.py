"""Expiry: exactly the reservations past their TTL are released, once."""

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from apps.inventory import services
from apps.inventory.models import Reservation, Stock, StockMovement
from apps.inventory.services import StockDTO
from tests.inventory.conftest import assert_ledger_adds_up, counters, lines, published_types

pytestmark = pytest.mark.django_db


def test_a_reservation_that_cannot_expire_does_not_hold_back_the_others(
    stocked: Callable[..., StockDTO], caplog: pytest.LogCaptureFixture
) -> None:
    mug, cup = stocked(10), stocked(10)
    drifted = services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 2)))
    healthy = services.reservation_create(reference=uuid4(), lines=lines((cup.product_id, 3)))
    # The drifted one is due first, so every run meets it first.
    Reservation.objects.filter(reference=drifted.reference).update(
        expires_at=timezone.now() - timedelta(minutes=2)
    )
    Reservation.objects.filter(reference=healthy.reference).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    # The mug's counter no longer covers its reservation (a bug, or an edit by hand).
    Stock.objects.filter(product_id=mug.product_id).update(reserved=1)

    assert services.reservations_expire_due() == 1

    statuses = dict(Reservation.objects.values_list("reference", "status"))
    assert statuses == {drifted.reference: "active", healthy.reference: "expired"}
    assert counters(cup.product_id) == (10, 0)
    assert counters(mug.product_id) == (10, 1)  # untouched: reconcile_stock is the way out
    assert f"reservation {drifted.reference} cannot expire" in caplog.text
    assert published_types().count("inventory.ReservationExpired") == 1


def test_expiry_releases_exactly_the_reservations_past_their_ttl(
    stocked: Callable[..., StockDTO],
) -> None:
    mug = stocked(10)
    due = [
        services.reservation_create(
            reference=uuid4(), lines=lines((mug.product_id, 2)), ttl=timedelta(0)
        )
        for _ in range(2)
    ]
    live = services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 3)))

    assert services.reservations_expire_due() == 2
    assert services.reservations_expire_due() == 0

    statuses = dict(Reservation.objects.values_list("reference", "status"))
    assert statuses == {
        due[0].reference: "expired",
        due[1].reference: "expired",
        live.reference: "active",
    }
    assert counters(mug.product_id) == (10, 3)
    assert StockMovement.objects.filter(kind="expiry").count() == 2
    assert published_types().count("inventory.ReservationExpired") == 2
    assert_ledger_adds_up()


def test_a_committed_reservation_never_expires(stocked: Callable[..., StockDTO]) -> None:
    mug = stocked(10)
    reservation = services.reservation_create(
        reference=uuid4(), lines=lines((mug.product_id, 2)), ttl=timedelta(0)
    )
    services.reservation_commit(reference=reservation.reference)

    assert services.reservations_expire_due() == 0
    assert counters(mug.product_id) == (8, 0)


def test_expire_reservations_command_reports_how_many(stocked: Callable[..., StockDTO]) -> None:
    mug = stocked(10)
    services.reservation_create(
        reference=uuid4(), lines=lines((mug.product_id, 1)), ttl=timedelta(0)
    )
    out = StringIO()

    call_command("expire_reservations", stdout=out)

    assert out.getvalue() == "1 reservations expired\n"
    assert counters(mug.product_id) == (10, 0)


def test_expiry_is_scheduled_every_minute() -> None:
    schedule = Schedule.objects.get(name="inventory: expire reservations")

    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "apps.inventory.tasks.expire_reservations",
        "I",
        1,
        -1,
    )


def test_the_scheduled_task_expires_due_reservations(stocked: Callable[..., StockDTO]) -> None:
    from apps.inventory.tasks import expire_reservations

    mug = stocked(10)
    services.reservation_create(
        reference=uuid4(), lines=lines((mug.product_id, 1)), ttl=timedelta(0)
    )

    assert expire_reservations() == 1
    assert Reservation.objects.get().status == "expired"
    assert Reservation.objects.get().expires_at <= timezone.now()
