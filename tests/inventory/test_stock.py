"""Stock levels: create, read, adjust, and the transition events."""

from collections.abc import Callable
from uuid import uuid4

import pytest

from apps.inventory import services
from apps.inventory.models import Stock, StockMovement
from apps.inventory.services import StockDTO
from ecommerce.accounts.models import User
from tests.inventory.conftest import (
    assert_ledger_adds_up,
    counters,
    lines,
    published,
    published_types,
)
from tests.inventory.factories import StockFactory

pytestmark = pytest.mark.django_db


def test_stock_create_starts_empty_and_publishes_nothing() -> None:
    product_id = uuid4()

    stock = services.stock_create(product_id=product_id, sku="MUG-1")

    assert stock == StockDTO(
        product_id=product_id,
        sku="MUG-1",
        on_hand=0,
        reserved=0,
        available=0,
        low_stock_threshold=5,
    )
    assert not StockMovement.objects.exists()
    assert published() == []


def test_stock_create_with_units_books_them_as_an_adjustment() -> None:
    product_id = uuid4()

    stock = services.stock_create(product_id=product_id, sku="MUG-1", on_hand=12)

    assert (stock.on_hand, stock.available) == (12, 12)
    movement = StockMovement.objects.get()
    assert (movement.kind, movement.on_hand_delta, movement.reason) == (
        "adjustment",
        12,
        "initial stock",
    )
    assert published_types() == ["inventory.StockAdjusted", "inventory.BackInStock"]


def test_stock_create_is_idempotent_and_leaves_an_existing_stock_alone() -> None:
    product_id = uuid4()
    first = services.stock_create(product_id=product_id, sku="MUG-1", on_hand=3)

    again = services.stock_create(product_id=product_id, sku="MUG-2", on_hand=50)

    assert again == first
    assert Stock.objects.count() == 1
    assert StockMovement.objects.count() == 1


def test_stock_get_of_an_unknown_product_is_not_found() -> None:
    with pytest.raises(services.StockNotFound) as raised:
        services.stock_get(product_id=uuid4())

    assert (raised.value.code, raised.value.status) == ("not_found", 404)


def test_stock_get_many_reads_many_products_in_one_query(
    django_assert_num_queries: Callable[..., object],
) -> None:
    stocks = StockFactory.create_batch(5, on_hand=7, reserved=2)
    unknown = uuid4()

    with django_assert_num_queries(1):  # type: ignore[attr-defined]
        found = services.stock_get_many(product_ids=[s.product_id for s in stocks] + [unknown])

    assert set(found) == {s.product_id for s in stocks}
    assert {(dto.on_hand, dto.reserved, dto.available) for dto in found.values()} == {(7, 2, 5)}


def test_stock_adjust_changes_on_hand_writes_the_ledger_and_publishes(
    stocked: Callable[..., StockDTO],
) -> None:
    stock = stocked(10)

    after = services.stock_adjust(product_id=stock.product_id, delta=-3, reason="broken in transit")

    assert (after.on_hand, after.reserved, after.available) == (7, 0, 7)
    assert counters(stock.product_id) == (7, 0)
    movement = StockMovement.objects.order_by("-id").first()
    assert movement is not None
    assert (
        movement.kind,
        movement.on_hand_delta,
        movement.reserved_delta,
        movement.on_hand_after,
        movement.reserved_after,
        movement.reason,
    ) == ("adjustment", -3, 0, 7, 0, "broken in transit")
    assert published()[-1] == (
        "inventory.StockAdjusted",
        {
            "product_id": str(stock.product_id),
            "sku": stock.sku,
            "delta": -3,
            "reason": "broken in transit",
            "on_hand": 7,
            "reserved": 0,
            "available": 7,
            "actor_id": None,
        },
    )
    assert_ledger_adds_up()


def test_stock_adjust_records_the_staff_member_who_did_it(
    stocked: Callable[..., StockDTO], make_user: Callable[..., User]
) -> None:
    stock = stocked(10)
    staff = make_user("staff@example.com", staff=True)

    services.stock_adjust(
        product_id=stock.product_id, delta=5, reason="delivery", actor_id=staff.pk
    )

    movement = StockMovement.objects.order_by("-id").first()
    assert movement is not None
    assert movement.actor_id == staff.pk
    assert published()[-1][1]["actor_id"] == str(staff.pk)


@pytest.mark.parametrize("delta", [-11, -100])
def test_stock_adjust_below_zero_is_insufficient_stock_and_changes_nothing(
    stocked: Callable[..., StockDTO], delta: int
) -> None:
    stock = stocked(10)
    before = published()

    with pytest.raises(services.InsufficientStock) as raised:
        services.stock_adjust(product_id=stock.product_id, delta=delta, reason="count")

    assert (raised.value.code, raised.value.status) == ("insufficient_stock", 409)
    assert counters(stock.product_id) == (10, 0)
    assert StockMovement.objects.count() == 1
    assert published() == before


def test_stock_adjust_below_reserved_is_insufficient_stock(
    stocked: Callable[..., StockDTO],
) -> None:
    stock = stocked(10)
    services.reservation_create(
        reference=uuid4(), lines=[services.ReservationLineIn(stock.product_id, 8)]
    )

    with pytest.raises(services.InsufficientStock) as raised:
        services.stock_adjust(product_id=stock.product_id, delta=-3, reason="count")

    assert raised.value.detail == f"Cannot remove 3 of {stock.sku}: 10 on hand, 8 reserved."
    assert counters(stock.product_id) == (10, 8)
    services.stock_adjust(product_id=stock.product_id, delta=-2, reason="count")
    assert counters(stock.product_id) == (8, 8)


@pytest.mark.parametrize(
    ("delta", "reason", "error"),
    [
        (0, "count", services.InvalidQuantity),
        (1, "", services.InvalidReason),
        (1, "   ", services.InvalidReason),
        (1, "x" * 256, services.InvalidReason),
        (services.MAX_UNITS + 1, "delivery", services.InvalidQuantity),
        (-(2**40), "count", services.InvalidQuantity),
    ],
)
def test_stock_adjust_refuses_bad_input_with_a_400(
    stocked: Callable[..., StockDTO], delta: int, reason: str, error: type[Exception]
) -> None:
    stock = stocked(10)

    with pytest.raises(error) as raised:
        services.stock_adjust(product_id=stock.product_id, delta=delta, reason=reason)

    assert raised.value.status == 400  # type: ignore[attr-defined]
    assert counters(stock.product_id) == (10, 0)
    assert StockMovement.objects.count() == 1


def test_stock_past_the_most_a_product_holds_is_refused_and_changes_nothing(
    stocked: Callable[..., StockDTO],
) -> None:
    stock = stocked(services.MAX_UNITS - 10)  # a change past it would overflow the column

    with pytest.raises(services.InvalidQuantity) as raised:
        services.stock_adjust(product_id=stock.product_id, delta=1_000_000, reason="delivery")
    with pytest.raises(services.InvalidQuantity):
        services.stock_create(product_id=uuid4(), sku="HUGE", on_hand=services.MAX_UNITS + 1)
    with pytest.raises(services.InvalidQuantity):
        services.reservation_create(
            reference=uuid4(), lines=lines((stock.product_id, services.MAX_UNITS + 1))
        )

    assert str(raised.value).startswith(f"{stock.sku} would have 1,000,999,990 on hand")
    assert counters(stock.product_id) == (services.MAX_UNITS - 10, 0)
    assert not Stock.objects.filter(sku="HUGE").exists()
    assert StockMovement.objects.count() == 1
    services.stock_adjust(product_id=stock.product_id, delta=10, reason="delivery")
    assert counters(stock.product_id) == (services.MAX_UNITS, 0)


def test_stock_adjust_of_an_unknown_product_is_not_found() -> None:
    with pytest.raises(services.StockNotFound):
        services.stock_adjust(product_id=uuid4(), delta=5, reason="delivery")

    assert not StockMovement.objects.exists()


def test_transition_events_are_published_once_per_crossing(
    stocked: Callable[..., StockDTO],
) -> None:
    stock = stocked(10, threshold=5)

    def adjust(delta: int) -> None:
        services.stock_adjust(product_id=stock.product_id, delta=delta, reason="count")

    adjust(-4)  # 10 -> 6: above the line
    adjust(-1)  # 6 -> 5: at the line, low
    adjust(-2)  # 5 -> 3: still low, no second LowStock
    adjust(-3)  # 3 -> 0: out
    adjust(2)  # 0 -> 2: back
    adjust(8)  # 2 -> 10: plenty
    adjust(-10)  # 10 -> 0: straight to out, one event

    crossings = [
        (t, p.get("available"))
        for t, p in published()
        if t in {"inventory.LowStock", "inventory.OutOfStock", "inventory.BackInStock"}
    ]
    assert crossings == [
        ("inventory.BackInStock", 10),  # the initial stock
        ("inventory.LowStock", 5),
        ("inventory.OutOfStock", None),
        ("inventory.BackInStock", 2),
        ("inventory.OutOfStock", None),
    ]
