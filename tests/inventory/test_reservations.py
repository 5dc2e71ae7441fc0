"""Reservations: all-or-nothing, idempotent, and committed, released or returned once."""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.utils import timezone

from apps.inventory import services
from apps.inventory.events import ReservedLine
from apps.inventory.models import Reservation, ReservationLine, StockMovement
from apps.inventory.services import ReservationDTO, StockDTO
from tests.inventory.conftest import (
    assert_ledger_adds_up,
    counters,
    lines,
    published,
    published_types,
)

pytestmark = pytest.mark.django_db

StockMaker = Callable[..., StockDTO]


def end(reference: UUID, how: str) -> None:
    """End a reservation: released, expired (run out and swept), committed or returned."""
    if how == "released":
        services.reservation_release(reference=reference, reason="cancelled")
    elif how == "expired":
        Reservation.objects.filter(reference=reference).update(expires_at=timezone.now())
        services.reservations_expire_due()
    else:
        services.reservation_commit(reference=reference)
        if how == "returned":
            services.reservation_return(reference=reference)


def test_reservation_create_holds_every_line_and_publishes_stock_reserved(
    stocked: StockMaker,
) -> None:
    mug, tea = stocked(10, sku="MUG"), stocked(4, sku="TEA")
    reference = uuid4()
    before = timezone.now()

    reservation = services.reservation_create(
        reference=reference, lines=lines((mug.product_id, 2), (tea.product_id, 1))
    )

    assert reservation.reference == reference
    assert reservation.status == "active"
    assert sorted(reservation.lines, key=lambda line: line.sku) == [
        ReservedLine(product_id=mug.product_id, sku="MUG", quantity=2),
        ReservedLine(product_id=tea.product_id, sku="TEA", quantity=1),
    ]
    ttl = timedelta(minutes=15)
    assert before + ttl <= reservation.expires_at <= timezone.now() + ttl
    assert counters(mug.product_id) == (10, 2)
    assert counters(tea.product_id) == (4, 1)
    kinds = StockMovement.objects.filter(reference=reference).values_list(
        "sku", "kind", "on_hand_delta", "reserved_delta", "reserved_after"
    )
    assert sorted(kinds) == [("MUG", "reservation", 0, 2, 2), ("TEA", "reservation", 0, 1, 1)]
    [payload] = [p for t, p in published() if t == "inventory.StockReserved"]
    assert payload == {
        "reference": str(reference),
        "lines": sorted(
            [
                {"product_id": str(mug.product_id), "sku": "MUG", "quantity": 2},
                {"product_id": str(tea.product_id), "sku": "TEA", "quantity": 1},
            ],
            key=lambda line: line["product_id"],
        ),
        "expires_at": reservation.expires_at.isoformat(),
    }
    assert_ledger_adds_up()


def test_reservation_create_adds_up_quantities_of_the_same_product(stocked: StockMaker) -> None:
    mug = stocked(10)

    reservation = services.reservation_create(
        reference=uuid4(), lines=lines((mug.product_id, 2), (mug.product_id, 3))
    )

    assert [line.quantity for line in reservation.lines] == [5]
    assert counters(mug.product_id) == (10, 5)
    assert ReservationLine.objects.get().quantity == 5


def test_reservation_create_takes_the_ttl_it_is_given(stocked: StockMaker) -> None:
    mug = stocked(10)

    reservation = services.reservation_create(
        reference=uuid4(), lines=lines((mug.product_id, 1)), ttl=timedelta(seconds=30)
    )

    assert reservation.expires_at <= timezone.now() + timedelta(seconds=30)


def test_reservation_create_is_all_or_nothing(stocked: StockMaker) -> None:
    mug, tea = stocked(10), stocked(2)
    events_before = published()

    with pytest.raises(services.OutOfStock) as raised:
        services.reservation_create(
            reference=uuid4(), lines=lines((mug.product_id, 5), (tea.product_id, 3))
        )

    assert (raised.value.code, raised.value.status) == ("out_of_stock", 409)
    assert raised.value.attr == str(tea.product_id)
    assert raised.value.detail == f"Only 2 of {tea.sku} available, 3 wanted."
    assert counters(mug.product_id) == (10, 0)
    assert counters(tea.product_id) == (2, 0)
    assert not Reservation.objects.exists()
    assert StockMovement.objects.filter(kind="reservation").count() == 0
    assert published() == events_before


def test_reservation_create_counts_what_others_already_hold(stocked: StockMaker) -> None:
    mug = stocked(3)
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 2)))

    with pytest.raises(services.OutOfStock):
        services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 2)))

    assert counters(mug.product_id) == (3, 2)


def test_reservation_create_of_an_unstocked_product_is_out_of_stock() -> None:
    unknown = uuid4()

    with pytest.raises(services.OutOfStock) as raised:
        services.reservation_create(reference=uuid4(), lines=lines((unknown, 1)))

    assert raised.value.attr == str(unknown)
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1])
def test_reservation_create_refuses_a_quantity_below_one(
    stocked: StockMaker, quantity: int
) -> None:
    mug = stocked(10)

    with pytest.raises(services.InvalidQuantity) as raised:
        services.reservation_create(
            reference=uuid4(), lines=lines((mug.product_id, 1), (mug.product_id, quantity))
        )

    assert (raised.value.status, raised.value.attr) == (400, "quantity")
    assert counters(mug.product_id) == (10, 0)
    assert not Reservation.objects.exists()


def test_reservation_create_refuses_no_lines() -> None:
    with pytest.raises(services.InvalidQuantity) as raised:
        services.reservation_create(reference=uuid4(), lines=[])

    assert raised.value.attr == "lines"


def test_reservation_create_is_idempotent_per_reference(stocked: StockMaker) -> None:
    mug = stocked(10)
    reference = uuid4()
    first = services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    events_before = published()

    again = services.reservation_create(reference=reference, lines=lines((mug.product_id, 7)))

    # The first one, taken up by this call: its hold starts over.
    assert replace(again, expires_at=first.expires_at) == first
    assert again.expires_at > first.expires_at
    assert counters(mug.product_id) == (10, 2)
    assert published() == events_before
    assert_ledger_adds_up()


@pytest.mark.parametrize("ended", ["released", "expired", "committed"])
def test_reservation_create_returns_an_ended_reservation_as_it_is(
    stocked: StockMaker, ended: str
) -> None:
    mug = stocked(10)
    reference = uuid4()
    services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    end(reference, ended)
    before = services.reservation_get(reference=reference)

    again = services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))

    assert again == before


# Renewal: a checkout retried after an interrupted one makes its reservation over
# (docs/SPLITTING.md). The caller names the reservation it read by its expiry time.


def renew(reference: UUID, expires_at: datetime, *pairs: tuple[UUID, int]) -> ReservationDTO:
    return services.reservation_create(
        reference=reference, lines=lines(*pairs), renewing_expires_at=expires_at
    )


def test_renewing_an_active_reservation_gives_its_units_back_and_holds_the_new_lines(
    stocked: StockMaker,
) -> None:
    mug, tea, jam = stocked(10), stocked(10), stocked(10)
    reference = uuid4()
    first = services.reservation_create(
        reference=reference, lines=lines((mug.product_id, 1), (tea.product_id, 2))
    )

    renewed = renew(reference, first.expires_at, (mug.product_id, 3), (jam.product_id, 1))

    assert renewed.status == "active"
    assert renewed.expires_at > first.expires_at
    assert renewed == services.reservation_get(reference=reference)
    assert [(line.product_id, line.quantity) for line in renewed.lines] == sorted(
        [(mug.product_id, 3), (jam.product_id, 1)]
    )
    assert (counters(mug.product_id), counters(tea.product_id), counters(jam.product_id)) == (
        (10, 3),
        (10, 0),
        (10, 1),
    )
    ledger = StockMovement.objects.filter(reference=reference, product_id=mug.product_id)
    assert list(ledger.order_by("id").values_list("kind", "reserved_delta", "reason")) == [
        ("reservation", 1, ""),
        ("release", -1, "renewed"),
        ("reservation", 3, ""),
    ]
    assert published_types()[-2:] == ["inventory.StockReleased", "inventory.StockReserved"]
    assert published()[-2][1]["reason"] == "renewed"
    assert_ledger_adds_up()


@pytest.mark.parametrize("ended", ["released", "expired"])
def test_renewing_a_released_or_expired_reservation_holds_stock_again(
    stocked: StockMaker, ended: str
) -> None:
    mug = stocked(10)
    reference = uuid4()
    services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    end(reference, ended)
    gone = services.reservation_get(reference=reference)

    renewed = renew(reference, gone.expires_at, (mug.product_id, 2))

    assert (renewed.status, counters(mug.product_id)) == ("active", (10, 2))
    assert Reservation.objects.get().release_reason == ""
    assert published_types()[-1] == "inventory.StockReserved"  # nothing was held to release
    assert_ledger_adds_up()


def test_a_renewal_asked_again_does_not_renew_twice(stocked: StockMaker) -> None:
    mug = stocked(10)
    reference = uuid4()
    first = services.reservation_create(reference=reference, lines=lines((mug.product_id, 1)))
    renewed = renew(reference, first.expires_at, (mug.product_id, 2))
    events_before = published()

    # The same request again (a retry after a lost answer), or a late one: the reservation
    # changed since it was read, so it stands.
    again = renew(reference, first.expires_at, (mug.product_id, 5))

    assert again == renewed
    assert counters(mug.product_id) == (10, 2)
    assert published() == events_before


@pytest.mark.parametrize("sold", ["committed", "returned"])
def test_a_sold_reservation_is_never_renewed(stocked: StockMaker, sold: str) -> None:
    mug = stocked(10)
    reference = uuid4()
    services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    end(reference, sold)
    read = services.reservation_get(reference=reference)

    after = renew(reference, read.expires_at, (mug.product_id, 1))

    assert after == read
    assert counters(mug.product_id) == ((8, 0) if sold == "committed" else (10, 0))


def test_a_renewal_short_of_stock_changes_nothing(stocked: StockMaker) -> None:
    mug, tea = stocked(3), stocked(1)
    reference = uuid4()
    first = services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    services.reservation_create(reference=uuid4(), lines=lines((tea.product_id, 1)))
    events_before = published()

    with pytest.raises(services.OutOfStock) as raised:
        renew(reference, first.expires_at, (mug.product_id, 1), (tea.product_id, 1))

    assert raised.value.attr == str(tea.product_id)
    assert services.reservation_get(reference=reference) == first
    assert (counters(mug.product_id), counters(tea.product_id)) == ((3, 2), (1, 1))
    assert published() == events_before
    assert_ledger_adds_up()


def test_a_product_given_back_and_taken_again_by_a_renewal_announces_no_crossing(
    stocked: StockMaker,
) -> None:
    mug, tea = stocked(2, threshold=0), stocked(5)
    reference = uuid4()
    first = services.reservation_create(reference=reference, lines=lines((mug.product_id, 2)))
    assert published_types()[-1] == "inventory.OutOfStock"

    # The mug's units go back and are taken again: not back in stock for a moment.
    renew(reference, first.expires_at, (mug.product_id, 2), (tea.product_id, 1))

    assert published_types()[-2:] == ["inventory.StockReleased", "inventory.StockReserved"]
    assert counters(mug.product_id) == (2, 2)


def test_reserving_the_last_units_publishes_out_of_stock_and_low_stock_on_the_way(
    stocked: StockMaker,
) -> None:
    mug = stocked(8, threshold=5)

    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 4)))
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 4)))

    assert published_types()[2:] == [
        "inventory.StockReserved",
        "inventory.LowStock",
        "inventory.StockReserved",
        "inventory.OutOfStock",
    ]


def make_reservation(stocked: StockMaker, on_hand: int = 10, quantity: int = 3) -> ReservationDTO:
    stock = stocked(on_hand)
    return services.reservation_create(reference=uuid4(), lines=lines((stock.product_id, quantity)))


def test_reservation_commit_takes_the_units_off_hand(stocked: StockMaker) -> None:
    reservation = make_reservation(stocked, on_hand=10, quantity=3)
    product_id = reservation.lines[0].product_id

    committed = services.reservation_commit(reference=reservation.reference)

    assert committed.status == "committed"
    assert counters(product_id) == (7, 0)
    movement = StockMovement.objects.get(reference=reservation.reference, kind="commit")
    assert (movement.on_hand_delta, movement.reserved_delta) == (-3, -3)
    assert published_types()[-1] == "inventory.StockCommitted"
    assert_ledger_adds_up()


def test_reservation_commit_twice_commits_once(stocked: StockMaker) -> None:
    reservation = make_reservation(stocked)
    services.reservation_commit(reference=reservation.reference)
    events_before = published()

    again = services.reservation_commit(reference=reservation.reference)

    assert again.status == "committed"
    assert counters(reservation.lines[0].product_id) == (7, 0)
    assert published() == events_before


@pytest.mark.parametrize("how", ["released", "expired"])
def test_reservation_commit_after_release_or_expiry_is_refused(
    stocked: StockMaker, how: str
) -> None:
    reservation = make_reservation(stocked)
    end(reservation.reference, how)

    with pytest.raises(services.ReservationNotActive):
        services.reservation_commit(reference=reservation.reference)

    assert counters(reservation.lines[0].product_id) == (10, 0)


def test_reservation_commit_of_an_unknown_reference_is_not_found() -> None:
    with pytest.raises(services.ReservationNotFound):
        services.reservation_commit(reference=uuid4())


def test_reservation_release_makes_the_units_available_again(stocked: StockMaker) -> None:
    reservation = make_reservation(stocked, on_hand=3, quantity=3)
    product_id = reservation.lines[0].product_id

    released = services.reservation_release(
        reference=reservation.reference, reason="payment_declined"
    )

    assert released.status == "released"
    assert counters(product_id) == (3, 0)
    assert Reservation.objects.get().release_reason == "payment_declined"
    movement = StockMovement.objects.get(reference=reservation.reference, kind="release")
    assert (movement.on_hand_delta, movement.reserved_delta, movement.reason) == (
        0,
        -3,
        "payment_declined",
    )
    assert published_types()[-2:] == ["inventory.StockReleased", "inventory.BackInStock"]
    assert published()[-2][1]["reason"] == "payment_declined"
    assert_ledger_adds_up()


def test_reservation_release_is_a_no_op_unless_active(stocked: StockMaker) -> None:
    reservation = make_reservation(stocked)
    services.reservation_commit(reference=reservation.reference)
    events_before = published()

    after = services.reservation_release(reference=reservation.reference, reason="late")

    assert after.status == "committed"
    assert counters(reservation.lines[0].product_id) == (7, 0)
    assert published() == events_before


def test_reservation_return_puts_committed_units_back_on_hand(stocked: StockMaker) -> None:
    reservation = make_reservation(stocked, on_hand=3, quantity=3)
    product_id = reservation.lines[0].product_id
    services.reservation_commit(reference=reservation.reference)

    returned = services.reservation_return(reference=reservation.reference)
    again = services.reservation_return(reference=reservation.reference)

    assert (returned.status, again.status) == ("returned", "returned")
    assert counters(product_id) == (3, 0)
    movement = StockMovement.objects.get(reference=reservation.reference, kind="return")
    assert (movement.on_hand_delta, movement.reserved_delta) == (3, 0)
    assert published_types().count("inventory.StockReturned") == 1
    assert published_types()[-1] == "inventory.BackInStock"
    assert_ledger_adds_up()


def test_reservation_return_before_the_commit_is_refused_so_it_can_be_retried(
    stocked: StockMaker,
) -> None:
    reservation = make_reservation(stocked)

    with pytest.raises(services.ReservationNotCommitted):
        services.reservation_return(reference=reservation.reference)

    assert counters(reservation.lines[0].product_id) == (10, 3)


def test_reservation_return_of_a_released_reservation_changes_nothing(
    stocked: StockMaker,
) -> None:
    reservation = make_reservation(stocked)
    services.reservation_release(reference=reservation.reference, reason="cancelled")

    after = services.reservation_return(reference=reservation.reference)

    assert after.status == "released"
    assert counters(reservation.lines[0].product_id) == (10, 0)


def test_reservation_get_reads_a_reservation(stocked: StockMaker) -> None:
    reservation = make_reservation(stocked)

    assert services.reservation_get(reference=reservation.reference) == reservation
    with pytest.raises(services.ReservationNotFound):
        services.reservation_get(reference=uuid4())


def test_stock_changes_work_with_the_debug_cursor_of_local_development(
    stocked: StockMaker, make_user: Callable[..., Any]
) -> None:
    """DEBUG (the local default) logs every statement with its parameters bound: every
    parameter of the hand-written stock statement must be one the database can bind."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock = stocked(5)
    reference, actor = uuid4(), make_user("staff@example.com", staff=True).pk

    with CaptureQueriesContext(connection):
        services.reservation_create(reference=reference, lines=lines((stock.product_id, 2)))
        services.stock_adjust(
            product_id=stock.product_id, delta=3, reason="delivery", actor_id=actor
        )

    after = services.stock_get(product_id=stock.product_id)
    assert (after.on_hand, after.reserved) == (8, 2)
    assert StockMovement.objects.filter(reference=reference).count() == 1
    assert StockMovement.objects.filter(actor_id=actor).count() == 1
