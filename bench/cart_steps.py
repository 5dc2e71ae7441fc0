"""What each step of a shopper costs, in CPU and statements, in process: the web process's
requests, then the relay's deliveries and the background tasks they queue.

    .venv/bin/python bench/cart_steps.py                  # 300 shoppers after 30 to warm up
    .venv/bin/python bench/cart_steps.py --shoppers 1000
    .venv/bin/python bench/cart_steps.py --statements     # and each step's statements

One shopper at a time through Django's test client (the whole middleware stack and DRF, no
gunicorn, no sockets), with the production settings on a PostgreSQL database of its own
(dropped, created again and migrated, as bench/checkout.py does): create a cart, add one
unit of a product, check out with ``tok_ok`` and an ``Idempotency-Key``, read the cart once.
The relay is not running meanwhile, so those steps count only the web process's own work.
Then the orders are finished in process, in rounds until nothing is left: the relay drains
every due delivery (``Relay().drain()``, batches as the relay process makes them), then the
django-q2 tasks those deliveries queued run one by one (their bodies only: django-q2's own
queueing, signing and process hops are not counted). Reports, per step, this process's CPU
(``time.process_time``) per shopper and the statements it sent. Without the other processes
and the machine's noise, it shows a change to a step's code where the checkout benchmark's
rates would hide it. Writes bench/results/cart_steps.json.
"""

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkout import ROOT, fresh_database, server_env
from bench.common import write_results

STEPS = ("create", "add", "checkout", "get")
BACKGROUND = ("relay", "tasks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    parser.add_argument("--database", default="shop_bench_cart_steps")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also list each step's statements, with how many times a shopper sends each",
    )
    args = parser.parse_args()

    env = server_env(args.database, port=0, redis_url="")
    print(f"setting up database {args.database} ...")
    fresh_database(args.database, env)
    os.environ.update(env)
    os.environ["ALLOWED_HOSTS"] = "testserver"

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.utils.module_loading import import_string

    from apps.products import services as products
    from ecommerce.bus.relay import Relay
    from ecommerce.common import tasks

    queued: list[tuple[str, tuple[Any, ...]]] = []
    # Tasks are kept here instead of going to a broker, and run by finish_orders below.
    tasks.async_task = lambda func, *args, **options: queued.append((func, args))  # type: ignore[assignment]

    product = products.product_create(
        sku=f"STEP-{uuid.uuid4().hex[:8]}",
        name="A product",
        price=Decimal("19.99"),
        initial_stock=1_000_000,
    )
    client = Client()
    cpu = dict.fromkeys(STEPS + BACKGROUND, 0.0)
    statements = dict.fromkeys(STEPS + BACKGROUND, 0)
    sent = [0]
    texts: list[str] = []
    seen = {name: Counter[str]() for name in STEPS + BACKGROUND}

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent[0] += 1
        texts.append(sql)
        return execute(sql, params, many, context)

    def step(name: str, measured: bool, request: Any, expected: int) -> Any:
        sent[0] = 0
        del texts[:]
        started = time.process_time()
        response = request()
        if measured:
            cpu[name] += time.process_time() - started
            statements[name] += sent[0]
            seen[name].update(texts)
        assert response.status_code == expected, response.content
        return response

    def shopper(measured: bool) -> None:
        cart = step(
            "create",
            measured,
            lambda: client.post("/api/v1/carts/", content_type="application/json"),
            201,
        ).json()
        path, token = f"/api/v1/carts/{cart['id']}", cart["token"]
        step(
            "add",
            measured,
            lambda: client.post(
                f"{path}/items",
                {"product_id": str(product.id), "quantity": 1},
                content_type="application/json",
                HTTP_X_CART_TOKEN=token,
            ),
            201,
        )
        step(
            "checkout",
            measured,
            lambda: client.post(
                f"{path}/checkout",
                {"email": "shopper@example.com", "payment_token": "tok_ok"},
                content_type="application/json",
                HTTP_X_CART_TOKEN=token,
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            ),
            202,
        )
        step("get", measured, lambda: client.get(f"{path}/", HTTP_X_CART_TOKEN=token), 200)

    def background(name: str, measured: bool, work: Any) -> int:
        sent[0] = 0
        del texts[:]
        started = time.process_time()
        done = work()
        if measured:
            cpu[name] += time.process_time() - started
            statements[name] += sent[0]
            seen[name].update(texts)
        return done

    def cart_statuses() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT status FROM cart_cart")
            return {status for (status,) in cursor.fetchall()}

    def run_queued() -> int:
        batch = queued[:]
        del queued[:]
        for func, task_args in batch:
            import_string(func)(*task_args)
        return len(batch)

    def finish_orders(measured: bool) -> None:
        while background("relay", measured, Relay().drain) + background(
            "tasks", measured, run_queued
        ):
            pass

    with connection.execute_wrapper(count):
        for _ in range(args.warm_up):
            shopper(measured=False)
        finish_orders(measured=False)
        for _ in range(args.shoppers):
            shopper(measured=True)
        finish_orders(measured=True)
    unpaid = cart_statuses() - {"paid"}
    assert not unpaid, f"orders left {unpaid}"

    rows = [
        {
            "step": name,
            "cpu_ms": 1000 * cpu[name] / args.shoppers,
            "statements": statements[name] / args.shoppers,
        }
        for name in STEPS + BACKGROUND
    ]
    web = [row for row in rows if row["step"] in STEPS]
    total = sum(row["cpu_ms"] for row in rows)
    print(f"\n{'step':<10}{'CPU ms':>8}{'statements':>12}")
    for row in rows:
        print(f"{row['step']:<10}{row['cpu_ms']:>8.2f}{row['statements']:>12.1f}")
        if row is web[-1]:
            web_cpu = sum(r["cpu_ms"] for r in web)
            print(f"{'  web':<10}{web_cpu:>8.2f}{sum(r['statements'] for r in web):>12.1f}")
    print(f"{'total':<10}{total:>8.2f}{sum(row['statements'] for row in rows):>12.1f}")
    if args.statements:
        for name in STEPS + BACKGROUND:
            print(f"\n{name}: statements per shopper")
            for sql, times in seen[name].most_common():
                print(f"{times / args.shoppers:>6.2f}  {' '.join(sql.split())[:150]}")
    path = write_results(
        "cart_steps",
        {
            "benchmark": "cart_steps",
            "command": " ".join(["bench/cart_steps.py", *sys.argv[1:]]),
            "shoppers": args.shoppers,
            "steps": rows,
            "total_cpu_ms": total,
        },
    )
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
