"""Inventory under real concurrency on PostgreSQL: no oversell, no drift, expiry once."""

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from apps.inventory import services
from apps.inventory.models import Reservation, Stock, StockMovement
from apps.inventory.services import StockDTO
from ecommerce.accounts.models import User
from ecommerce.core.idempotency import OnceFormField
from tests import processes
from tests.inventory.conftest import assert_ledger_adds_up, counters, lines, published_types
from tests.postgres import first_commits_late

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(workers: int, work: Callable[[int], str]) -> Counter[str]:
    """Run ``work`` in ``workers`` threads released together, each on its own connection."""
    start = threading.Barrier(workers)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            start.wait()
            outcome = work(n)
        except Exception as exc:
            outcome = f"crashed: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_one_adjust_form_sent_four_times_at_once_adjusts_once(
    stocked: Callable[..., StockDTO],
) -> None:
    mug = stocked(10, sku="MUG")
    keeper = User.objects.create_superuser(email="keeper@example.com", password="a-passphrase")
    pk = Stock.objects.get(product_id=mug.product_id).pk
    form = {"request_id": OnceFormField.fresh(), "delta": "24", "reason": "delivery"}

    def submit(n: int) -> str:
        client = Client()
        client.force_login(keeper)
        response = client.post(f"/admin/inventory/stock/{pk}/adjust/", form)
        return str(response.status_code)

    outcomes = run_at_once(4, submit)

    assert outcomes == {"302": 4}
    assert counters(mug.product_id) == (34, 0)
    assert StockMovement.objects.filter(kind="adjustment", on_hand_delta=24).count() == 1
    assert_ledger_adds_up()


def test_fifty_buyers_of_twenty_units_never_oversell(stocked: Callable[..., StockDTO]) -> None:
    mug = stocked(20)

    def buy(n: int) -> str:
        try:
            services.reservation_create(reference=uuid4(), lines=lines((mug.product_id, 1)))
        except services.OutOfStock:
            return "out of stock"
        return "reserved"

    outcomes = run_at_once(50, buy)

    assert outcomes == {"reserved": 20, "out of stock": 30}
    assert counters(mug.product_id) == (20, 20)
    assert Reservation.objects.filter(status="active").count() == 20
    assert StockMovement.objects.filter(kind="reservation").count() == 20
    assert published_types().count("inventory.StockReserved") == 20
    assert published_types().count("inventory.OutOfStock") == 1
    assert_ledger_adds_up()


def test_a_storm_from_several_processes_keeps_every_invariant(
    stocked: Callable[..., StockDTO],
) -> None:
    products = [str(stocked(30).product_id) for _ in range(5)]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecommerce.settings.test",
        "DATABASE_URL": processes.test_database_url(),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.inventory.storm", "--seed", str(seed), *products],
            cwd=processes.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    results = [w.communicate(timeout=120) for w in workers]

    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    totals: Counter[str] = sum((Counter(json.loads(out)) for out, _ in results), Counter())
    print(dict(totals))
    assert totals["reserve"] > 0
    assert totals["commit"] + totals["release"] + totals["expired"] > 0

    assert_ledger_adds_up()
    assert_each_reservation_moved_stock_once()
    out = StringIO()
    call_command("reconcile_stock", stdout=out)
    assert out.getvalue() == "no drift: every reserved count matches its active reservations\n"


def assert_each_reservation_moved_stock_once() -> None:
    expected_kinds = {
        "active": ["reservation"],
        "committed": ["commit", "reservation"],
        "released": ["release", "reservation"],
        "expired": ["expiry", "reservation"],
        "returned": ["commit", "reservation", "return"],
    }
    for reservation in Reservation.objects.prefetch_related("lines"):
        for line in reservation.lines.all():
            kinds = sorted(
                StockMovement.objects.filter(
                    reference=reservation.reference, product_id=line.product_id
                ).values_list("kind", flat=True)
            )
            assert kinds == expected_kinds[reservation.status], reservation


def test_two_expiry_runs_at_once_expire_each_reservation_once(
    stocked: Callable[..., StockDTO],
) -> None:
    mug, tea = stocked(500), stocked(500)
    due = 120
    for i in range(due):
        services.reservation_create(
            reference=uuid4(),
            lines=lines((mug.product_id, 1), (tea.product_id, 1 + i % 2)),
            ttl=timedelta(0),
        )
    live = services.reservation_create(
        reference=uuid4(), lines=lines((mug.product_id, 5), (tea.product_id, 5))
    )
    expired_by: list[int] = []

    def expire(n: int) -> str:
        expired_by.append(services.reservations_expire_due())
        return "ran"

    assert run_at_once(2, expire) == {"ran": 2}

    assert sum(expired_by) == due
    assert Reservation.objects.filter(status="expired").count() == due
    assert Reservation.objects.get(status="active").reference == live.reference
    assert StockMovement.objects.filter(kind="expiry").count() == 2 * due
    assert published_types().count("inventory.ReservationExpired") == due
    assert counters(mug.product_id) == (500, 5)
    assert counters(tea.product_id) == (500, 5)
    assert_ledger_adds_up()


def test_a_return_waiting_on_the_commit_of_its_reservation_returns_the_units(
    stocked: Callable[..., StockDTO],
) -> None:
    # Two subscribers nothing orders: the return reads the reservation as still active while
    # the commit's transaction is open, then waits for that commit's lock.
    mug = stocked(10)
    cart_id = uuid4()
    services.reservation_create(reference=cart_id, lines=lines((mug.product_id, 2)))
    returned = first_commits_late(
        lambda: services.reservation_commit(reference=cart_id, payment_id=uuid4()),
        lambda: services.reservation_return(reference=cart_id),
    )

    assert isinstance(returned, services.ReservationDTO)
    assert returned.status == "returned"
    assert Reservation.objects.get(reference=cart_id).status == "returned"
    assert counters(mug.product_id) == (10, 0)
    assert list(
        StockMovement.objects.filter(reference=cart_id)
        .order_by("id")
        .values_list("kind", flat=True)
    ) == ["reservation", "commit", "return"]
    assert_ledger_adds_up()
