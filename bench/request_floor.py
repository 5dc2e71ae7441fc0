"""What one HTTP request costs in CPU before the shop does any work, through gunicorn.

    .venv/bin/python bench/request_floor.py               # 2,000 requests per endpoint
    .venv/bin/python bench/request_floor.py --requests 500

One sync gunicorn worker with the production settings (as bench/checkout.py starts it) and
one client sending requests one after another, so nothing waits on anything else. For each
of: a bare WSGI application that answers 201 with "{}" (gunicorn's own share), ``GET
/api/v1/health`` (Django, DRF and two small queries) and ``POST /api/v1/carts/`` (one
INSERT), it reports the server's CPU per request (the gunicorn tree, from /proc), the
database backends' CPU per request and this client's. Writes bench/results/request_floor.json.

This is the floor under the checkout benchmark's 145 shoppers/s goal: at that rate two cores
leave 13.8 ms of CPU per shopper for everything, and a shopper makes at least three requests
(create, add, checkout) and polls once.
"""

import argparse
import http.client
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkout import (
    ROOT,
    backends_cpu_ms,
    client_cpu_ms,
    database_backends,
    fresh_database,
    server_env,
    stop_servers,
    tree_cpu_ms,
)
from bench.common import write_results


def bare_application(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> Iterable[bytes]:
    """The least a WSGI application can do: gunicorn's own cost per request."""
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def measure(
    app: str, method: str, path: str, env: dict[str, str], port: int, args: argparse.Namespace
) -> dict[str, Any]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def one() -> int:
            nonlocal conn
            for attempt in (1, 2):
                try:
                    conn.request(method, path, None, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                    return response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        deadline = time.monotonic() + 60
        while True:  # up, and warm: code loaded, the database connection open
            try:
                one()
                break
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not come up for {app}") from None
                time.sleep(0.2)
        for _ in range(args.warmup):
            one()

        db_before = backends_cpu_ms(database_backends(args.database))
        server_before, client_before = tree_cpu_ms([server.pid]), client_cpu_ms()
        started = time.perf_counter()
        statuses = {one() for _ in range(args.requests)}
        seconds = time.perf_counter() - started
        server_ms = tree_cpu_ms([server.pid]) - server_before
        client_ms = client_cpu_ms() - client_before
        db_after = backends_cpu_ms(database_backends(args.database))
        db_ms = sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items())
    finally:
        stop_servers([server])
    n = args.requests
    return {
        "request": f"{method} {path}" if app == "ecommerce.wsgi" else "bare WSGI application",
        "statuses": sorted(statuses),
        "requests_per_second": n / seconds,
        "server_cpu_ms": server_ms / n,
        "database_cpu_ms": db_ms / n,
        "client_cpu_ms": client_ms / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--port", type=int, default=8015)
    parser.add_argument("--database", default="shop_bench_request_floor")
    args = parser.parse_args()

    env = server_env(args.database, args.port, redis_url="")
    fresh_database(args.database, env)
    rows = [
        measure("bench.request_floor:bare_application", "POST", "/", env, args.port, args),
        measure("ecommerce.wsgi", "GET", "/api/v1/health", env, args.port, args),
        measure("ecommerce.wsgi", "POST", "/api/v1/carts/", env, args.port, args),
    ]
    print(f"\n{'request':<26}{'req/s':>8}{'server ms':>11}{'db ms':>8}{'client ms':>11}")
    for r in rows:
        print(
            f"{r['request']:<26}{r['requests_per_second']:>8.0f}{r['server_cpu_ms']:>11.2f}"
            f"{r['database_cpu_ms']:>8.2f}{r['client_cpu_ms']:>11.2f}"
        )
    path = write_results(
        "request_floor",
        {
            "benchmark": "request_floor",
            "command": " ".join(["bench/request_floor.py", *sys.argv[1:]]),
            "runs": rows,
        },
    )
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
