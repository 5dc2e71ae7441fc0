"""Scale benchmark: the pages and commands whose work could grow with the tables, on large ones.

    .venv/bin/python bench/scale.py        # 200k products, 1M events, 500k reservations
    .venv/bin/python bench/scale.py --products 20000 --events 100000   # a quicker run

What it does: creates its own PostgreSQL database (default ``shop_bench_scale``, dropped and
created again), migrates it and fills it with plain SQL (``generate_series``): products with
stock (two in three have units available), categories, outbox events with one delivered
delivery each, and committed reservations of one line each. Then, in this process through
Django's test client (no HTTP server: the numbers are the application's and the database's
work), it times each page a few times and reports the best and the median, and times the
replay plan of every event with its peak Python memory. Prints a table; writes
``bench/results/scale.json``.

A page here should cost about the same on a table of any size: what it shows is read with a
LIMIT, and the filters' choices come from the code. The numbers to compare are a run with
``--products 2000 --events 10000`` against the default sizes.
"""

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, print_table, write_results

DB_NAME = "shop_bench_scale"


def fill(cursor: Any, *, products: int, categories: int, events: int, reservations: int) -> None:
    """Rows written behind the services' back, as a shop's years would leave them."""
    cursor.execute(
        "INSERT INTO products_category (id, name, slug, parent_id)"
        " SELECT gen_random_uuid(), 'Category ' || g, 'category-' || g, NULL"
        " FROM generate_series(1, %s) g",
        [categories],
    )
    cursor.execute(
        "INSERT INTO products_product (id, sku, name, slug, description, price, currency,"
        " status, image_url, created_at, updated_at, in_stock)"
        " SELECT gen_random_uuid(), 'SKU-' || g, 'Product ' || g, 'product-' || g, '',"
        " (g %% 500) + 1, 'EUR', 'active', '', now() - g * interval '1 second', now(), g %% 3 <> 0"
        " FROM generate_series(1, %s) g",
        [products],
    )
    cursor.execute(
        "INSERT INTO inventory_stock (product_id, sku, on_hand, reserved, low_stock_threshold,"
        " listed, created_at, updated_at)"
        " SELECT id, sku, CASE WHEN in_stock THEN 5 ELSE 0 END, 0, 5, true, now(), now()"
        " FROM products_product"
    )
    cursor.execute(
        "INSERT INTO bus_event (event_id, event_type, event_version, aggregate_type,"
        " aggregate_id, sequence, payload, occurred_at, correlation_id)"
        " SELECT gen_random_uuid(), 'products.ProductPriceChanged', 1, 'product',"
        " (g %% 1000)::text, g / 1000 + 1, '{}', now() - interval '1 day', gen_random_uuid()"
        " FROM generate_series(1, %s) g",
        [events],
    )
    cursor.execute(
        "INSERT INTO bus_delivery (subscriber, aggregate_type, aggregate_id, sequence, status,"
        " attempts, next_attempt_at, last_error, delivered_at, event_id)"
        " SELECT 'cart.reprice_product', aggregate_type, aggregate_id, sequence, 'delivered',"
        " 1, occurred_at, '', occurred_at, id FROM bus_event"
    )
    cursor.execute(
        "INSERT INTO inventory_reservation (reference, status, expires_at, release_reason,"
        " created_at, updated_at)"
        " SELECT gen_random_uuid(), 'committed', now(), '', now() - g * interval '1 second',"
        " now() FROM generate_series(1, %s) g",
        [reservations],
    )
    cursor.execute(
        "INSERT INTO inventory_reservationline (reservation_id, product_id, sku, quantity)"
        " SELECT id, gen_random_uuid(), 'SKU-' || (id %% %s + 1), 1 FROM inventory_reservation",
        [max(products, 1)],
    )
    cursor.execute("ANALYZE")


def timed(get: Callable[[], Any], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = get()
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (response.status_code, response.content[:300])
    return {"best_ms": min(times) * 1000, "median_ms": statistics.median(times) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--categories", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reservations", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=5, help="times each page is asked for")
    args = parser.parse_args()

    print(f"setting up database {DB_NAME} ...", flush=True)
    env = fresh_database(DB_NAME, "bench.settings")
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")})
    os.environ.update({"THROTTLE_ANON_RATE": "off", "THROTTLE_USER_RATE": "off"})
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from apps.products.models import Product
    from ecommerce.accounts.models import User
    from ecommerce.bus import operations
    from ecommerce.bus.models import OutboxEvent

    started = time.perf_counter()
    with connection.cursor() as cursor:
        fill(
            cursor,
            products=args.products,
            categories=args.categories,
            events=args.events,
            reservations=args.reservations,
        )
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)

    shopper, staff = Client(), Client()
    staff.force_login(User.objects.create_superuser(email="bench@example.com", password="x" * 20))
    product = Product.objects.order_by("pk").first()
    event = OutboxEvent.objects.order_by("-pk").first()
    assert product is not None
    assert event is not None
    pages: dict[str, tuple[Client, str]] = {
        "API products, first page": (shopper, "/api/v1/products/"),
        "API products, in_stock=true": (shopper, "/api/v1/products/?in_stock=true"),
        "API products, in_stock=true by price": (
            shopper,
            "/api/v1/products/?in_stock=true&ordering=price",
        ),
        "admin products": (staff, "/admin/products/product/"),
        "admin product page": (staff, f"/admin/products/product/{product.pk}/change/"),
        "admin events": (staff, "/admin/bus/outboxevent/"),
        "admin deliveries": (staff, "/admin/bus/delivery/"),
        "admin events, search by event id": (staff, f"/admin/bus/outboxevent/?q={event.event_id}"),
        "admin reservations": (staff, "/admin/inventory/reservation/"),
        "admin reservations, search by SKU": (staff, "/admin/inventory/reservation/?q=SKU-77"),
    }
    results: dict[str, Any] = {}
    for label, (client, url) in pages.items():
        results[label] = timed(partial(client.get, url, HTTP_HOST="127.0.0.1"), args.runs)

    tracemalloc.start()
    start = time.perf_counter()
    plan = operations.replay_plan(operations.ReplaySlice())
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sum(plan.values()) >= args.events, plan
    results["replay plan, every event"] = {
        "best_ms": elapsed * 1000,
        "median_ms": elapsed * 1000,
        "peak_python_mb": peak / 1e6,
    }

    rows = []
    for label, r in results.items():
        line = f"best {r['best_ms']:8.1f} ms   median {r['median_ms']:8.1f} ms"
        if "peak_python_mb" in r:
            line += f"   peak Python memory {r['peak_python_mb']:.1f} MB"
        rows.append((label, line))
    print_table(
        f"{args.products:,} products, {args.categories:,} categories, {args.events:,} events",
        rows,
    )
    sizes = {"products": args.products, "categories": args.categories, "events": args.events}
    print(f"\nwritten to {write_results('scale', {'sizes': sizes, 'results': results})}")


if __name__ == "__main__":
    main()
