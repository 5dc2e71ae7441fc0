"""reconcile_stock: reserved counts recomputed from active reservations."""

from collections.abc import Callable
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command

from apps.inventory import services
from apps.inventory.models import Stock, StockMovement
from apps.inventory.services import StockDTO
from tests.inventory.conftest import assert_ledger_adds_up, counters, lines

pytestmark = pytest.mark.django_db


def reconcile(*args: str, drift_left: bool = False) -> str:
    """The command's output; ``drift_left``: it must fail (exit 1), as drift is left."""
    out = StringIO()
    if drift_left:
        with pytest.raises(CommandError, match="products drift, not fixed") as failed:
            call_command("reconcile_stock", *args, stdout=out)
        assert failed.value.returncode == 1
    else:
        call_command("reconcile_stock", *args, stdout=out)
    return out.getvalue()


def test_no_drift_when_reserved_matches_the_active_reservations(
    stocked: Callable[..., StockDTO],
) -> None:
    mug = stocked(10)
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 2)))
    committed = services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 3)))
    services.reservation_commit(reference=committed.reference)

    assert reconcile() == "no drift: every reserved count matches its active reservations\n"
    assert services.stock_reconcile() == []


def test_drift_is_reported_and_left_alone_without_fix(stocked: Callable[..., StockDTO]) -> None:
    mug = stocked(10, sku="MUG")
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 2)))
    Stock.objects.filter(product_id=mug.product_id).update(reserved=5)  # a bug, a manual edit

    out = reconcile(drift_left=True)

    assert f"MUG                      {mug.product_id}       10         5         2" in out
    assert out.endswith("1 products drift; run with --fix\n")
    assert counters(mug.product_id) == (10, 5)


def test_fix_sets_reserved_to_what_reservations_hold_with_a_ledger_row(
    stocked: Callable[..., StockDTO],
) -> None:
    mug = stocked(10, sku="MUG")
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 2)))
    Stock.objects.filter(product_id=mug.product_id).update(reserved=5)

    out = reconcile("--fix")

    assert "  fixed" in out
    assert out.endswith("1 products drift, 1 fixed\n")
    assert counters(mug.product_id) == (10, 2)
    movement = StockMovement.objects.get(kind="reconciliation")
    assert (movement.reserved_delta, movement.reserved_after, movement.reason) == (
        -3,
        2,
        "reconcile_stock: reserved 5 -> 2",
    )
    assert reconcile() == "no drift: every reserved count matches its active reservations\n"


def test_fix_leaves_a_drift_on_hand_cannot_cover(stocked: Callable[..., StockDTO]) -> None:
    mug = stocked(3)
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 3)))
    Stock.objects.filter(product_id=mug.product_id).update(on_hand=1, reserved=1)

    out = reconcile("--fix", drift_left=True)

    assert "NOT FIXED: on hand cannot cover it" in out
    [drift] = services.stock_reconcile(fix=True)
    assert (drift.reserved, drift.expected_reserved, drift.fixed) == (1, 3, False)
    assert counters(mug.product_id) == (1, 1)


def test_a_fixed_ledger_adds_up_again(stocked: Callable[..., StockDTO]) -> None:
    mug = stocked(10)
    services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 4)))
    # Lose the reservation's effect on the counter, and its ledger row with it.
    Stock.objects.filter(product_id=mug.product_id).update(reserved=0)
    StockMovement.objects.filter(kind="reservation").delete()

    services.stock_reconcile(fix=True)

    assert counters(mug.product_id) == (10, 4)
    assert_ledger_adds_up()
