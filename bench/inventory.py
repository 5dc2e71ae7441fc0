"""Inventory benchmark: reserving and committing one hot product from many workers.

    .venv/bin/python bench/inventory.py                    # 10 s per phase, 16 workers
    .venv/bin/python bench/inventory.py --seconds 3        # a quick smoke run
    .venv/bin/python bench/inventory.py --workers 16 --oversell-stock 200 \
        --database-url postgres://postgres@127.0.0.1:5432/shop_bench_inventory

What it does: creates its own database (default ``shop_bench_inventory``) if missing and
migrates it, then runs three phases, each with N worker processes started together:

1. ``django``: each worker loops ``reservation_create`` of 1 unit of the same product, then
   ``reservation_commit``: the full service path (ledger rows, outbox events, the reservation
   record) with production settings (events wait in the outbox for the relay).
2. ``psycopg floor``: the same two conditional UPDATEs on the same row, each in its own
   transaction, with plain psycopg and nothing else. The ratio django/floor says how much of
   the hot row's throughput the service keeps.
3. ``oversell``: less stock than demand; workers reserve and commit until refused. Sold must
   equal the stock exactly, and on-hand, reserved and the ledger must agree.

Prints a table and writes ``bench/results/inventory.json``. On a 2-core machine the workers
compete for CPU with PostgreSQL, so the numbers are a floor.
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "inventory.json"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop_bench_inventory"
PLENTY = 100_000_000  # stock that never runs out during a throughput phase

RESERVE_SQL = """
    UPDATE inventory_stock SET reserved = reserved + 1
     WHERE product_id = %s AND on_hand - reserved >= 1
"""
COMMIT_SQL = """
    UPDATE inventory_stock SET on_hand = on_hand - 1, reserved = reserved - 1
     WHERE product_id = %s AND reserved >= 1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--oversell-stock", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    prepare(args.database_url)

    product = fresh_stock(PLENTY)
    django_run = run_phase(django_worker, product, args.workers, args.seconds)
    product = fresh_stock(PLENTY)
    floor_run = run_phase(psycopg_worker, product, args.workers, args.seconds)
    oversell = run_oversell(args.workers, args.oversell_stock, args.seconds)

    result = {
        "benchmark": "inventory",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "workers": args.workers,
        "seconds": args.seconds,
        "django": django_run,
        "psycopg_floor": floor_run,
        "ratio": round(django_run["per_second"] / floor_run["per_second"], 3),
        "oversell": oversell,
    }
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    if oversell["oversold"] != 0 or not oversell["ledger_agrees"]:
        sys.exit("OVERSOLD or the ledger disagrees: see the table above")


def prepare(database_url: str) -> None:
    """Create the benchmark's own database if needed, migrate it, set Django up here."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "ecommerce.settings.production",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(64),
            "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(32),  # production requires one
            "PAYMENT_GATEWAY": "apps.payments.gateways.fake.FakeGateway",  # and this
            "ALLOWED_HOSTS": "localhost",  # and this
            "LOG_LEVEL": "WARNING",
        }
    )
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        cwd=ROOT,
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def fresh_stock(on_hand: int) -> UUID:
    from apps.inventory import services

    product_id = uuid4()
    services.stock_create(product_id=product_id, sku=f"BENCH-{product_id.hex[:8]}", on_hand=on_hand)
    return product_id


def run_phase(
    worker: Callable[..., None],
    product_id: UUID,
    workers: int,
    seconds: float,
    *,
    until_refused: bool = False,
) -> dict[str, Any]:
    """Fork ``workers`` processes, release them together, and add up what they did."""
    from django.db import connections

    connections.close_all()  # each forked worker opens its own connection
    ctx = mp.get_context("fork")
    ready, start = ctx.Barrier(workers + 1), ctx.Event()
    results: mp.Queue[tuple[int, int]] = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(product_id, seconds, until_refused, ready, start, results))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    ready.wait()
    began = time.monotonic()
    start.set()
    done = [results.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.monotonic() - began
    for p in procs:
        p.join()
    sold = sum(s for s, _ in done)
    return {
        "reservations": sold,
        "refused": sum(r for _, r in done),
        "elapsed_s": round(elapsed, 2),
        "per_second": round(sold / elapsed, 1),
    }


def django_worker(
    product_id: UUID,
    seconds: float,
    until_refused: bool,
    ready: Any,
    start: EventType,
    results: "mp.Queue[tuple[int, int]]",
) -> None:
    from apps.inventory import services

    line = [services.ReservationLineIn(product_id=product_id, quantity=1)]
    sold = refused = 0
    services.stock_get(product_id=product_id)  # connect before the clock starts
    ready.wait()
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reference = uuid4()
        try:
            services.reservation_create(reference=reference, lines=line)
        except services.OutOfStock:
            refused += 1
            if until_refused:
                break
            continue
        services.reservation_commit(reference=reference)
        sold += 1
    results.put((sold, refused))


def psycopg_worker(
    product_id: UUID,
    seconds: float,
    until_refused: bool,
    ready: Any,
    start: EventType,
    results: "mp.Queue[tuple[int, int]]",
) -> None:
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    sold = refused = 0
    with psycopg.connect(urlunsplit(url._replace(scheme="postgresql")), autocommit=True) as conn:
        ready.wait()
        start.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with conn.transaction():
                reserved = conn.execute(RESERVE_SQL, [product_id]).rowcount == 1
            if not reserved:
                refused += 1
                if until_refused:
                    break
                continue
            with conn.transaction():
                conn.execute(COMMIT_SQL, [product_id])
            sold += 1
    results.put((sold, refused))


def run_oversell(workers: int, stock: int, seconds: float) -> dict[str, Any]:
    from django.db.models import Sum

    from apps.inventory.models import Reservation, Stock, StockMovement

    product_id = fresh_stock(stock)
    # Workers stop at their first refusal; the long deadline only guards against a hang.
    run = run_phase(django_worker, product_id, workers, max(seconds, 120), until_refused=True)
    row = Stock.objects.get(product_id=product_id)
    ledger = StockMovement.objects.filter(product_id=product_id).aggregate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    committed = Reservation.objects.filter(status="committed", lines__product_id=product_id).count()
    return {
        "stock": stock,
        "sold": run["reservations"],
        "refused": run["refused"],
        "oversold": run["reservations"] - stock,
        "on_hand_after": row.on_hand,
        "reserved_after": row.reserved,
        "committed_reservations": committed,
        "ledger_agrees": (ledger["on_hand"], ledger["reserved"]) == (row.on_hand, row.reserved)
        and committed == run["reservations"],
    }


def print_table(result: dict[str, Any]) -> None:
    d, f, o = result["django"], result["psycopg_floor"], result["oversell"]
    print(f"\ninventory: {result['workers']} workers, one hot product, {result['seconds']} s each")
    print(f"{'path':<16} {'reserve+commit':>15} {'per second':>11}")
    print(f"{'django':<16} {d['reservations']:>15} {d['per_second']:>11}")
    print(f"{'psycopg floor':<16} {f['reservations']:>15} {f['per_second']:>11}")
    print(f"{'ratio':<16} {'':>15} {result['ratio']:>11}")
    print(
        f"\noversell run: stock {o['stock']}, sold {o['sold']}, refused {o['refused']}, "
        f"oversold {o['oversold']}; after: on hand {o['on_hand_after']}, "
        f"reserved {o['reserved_after']}; ledger agrees: {o['ledger_agrees']}"
    )


if __name__ == "__main__":
    main()
