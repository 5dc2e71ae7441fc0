"""Catalog read benchmark: GET /api/v1/products/?page_size=20 through gunicorn on PostgreSQL.

    .venv/bin/python bench/catalog.py                      # 20 s, 32 clients, 4 workers
    .venv/bin/python bench/catalog.py --seconds 5          # a quick smoke run
    .venv/bin/python bench/catalog.py --clients 32 --workers 4 --port 8012 \
        --database-url postgres://postgres@127.0.0.1:5432/shop_bench_catalog

What it does: creates its own database (default ``shop_bench_catalog``) if missing, migrates
it and runs ``seed_demo`` (idempotent: about 200 products with stock), starts gunicorn with
production settings (HTTPS redirect off, throttling rates out of the way) and hits the list
with N concurrent clients (threads holding ``http.client`` connections; only the standard
library) for a short warm-up and then the measured seconds. It prints requests/s, p50/p99
latency and the number of SQL queries one request makes (counted in-process with Django's
``CaptureQueriesContext`` on the same endpoint), and writes them to
``bench/results/catalog.json``. The load comes from wrk when it is installed (`apt-get install wrk`;
`--load python` forces the standard-library threads). The load generator runs on the same
machine as the server: on 2 cores it takes CPU from gunicorn, so the numbers are a floor.
"""

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "catalog.json"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop_bench_catalog"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, default=8012)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--load",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk (apt-get install wrk) when installed, else Python threads",
    )
    args = parser.parse_args()

    env = server_environment(args.database_url, args.port)
    prepare_database(args.database_url, env)
    path = f"/api/v1/products/?page_size={args.page_size}"
    queries = queries_per_request(env, path)

    server = start_gunicorn(env, args.port, args.workers, args.threads)
    try:
        wait_until_up(args.port)
        use_wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk"))
        measure = run_wrk if use_wrk else run_load
        load = measure(args.port, path, args.clients, args.warmup, args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)

    result = {
        "benchmark": "catalog",
        "endpoint": f"GET {path}",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "clients": args.clients,
        "seconds": args.seconds,
        **load,
        "queries_per_request": queries,
    }
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.output}")


def server_environment(database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecommerce.settings.production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "PAYMENT_GATEWAY": "apps.payments.gateways.fake.FakeGateway",  # takes no money
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "THROTTLE_ANON_RATE": "off",
        "THROTTLE_USER_RATE": "off",
        "LOG_LEVEL": "WARNING",
        # whitenoise notes the missing collectstatic output; the benchmark serves no files.
        "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
        "PORT": str(port),
    }


def prepare_database(database_url: str, env: dict[str, str]) -> None:
    """Create the benchmark's own database if needed, migrate it, seed the demo catalog."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT)
    # Production settings deliver events through the relay: drain what seeding published.
    subprocess.run([*manage, "relay_events", "--once"], env=env, check=True, cwd=ROOT)


def queries_per_request(env: dict[str, str], path: str) -> int:
    """SQL queries for one request to ``path``, counted in this process."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.get(path)  # warm: the first request also loads content types and the like
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.content[:200]!r}")
    connection.close()
    return len(captured)


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int = 1
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "ecommerce.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        # More than one thread makes gunicorn use its gthread workers, which keep
        # connections alive between requests; sync workers close every connection.
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, env=env, cwd=ROOT)


def wait_until_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer on port {port} within {timeout:.0f} s")


_WRK_DURATION = re.compile(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s)\s*$")
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(port: int, path: str, clients: int, warmup: float, seconds: float) -> dict[str, Any]:
    """The load from wrk (C, epoll): it leaves the server almost all of the CPU."""
    url = f"http://127.0.0.1:{port}{path}"
    if warmup:
        subprocess.run(
            ["wrk", "-t2", f"-c{clients}", f"-d{max(1, round(warmup))}s", url],
            check=True,
            capture_output=True,
        )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{round(seconds)}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    percentiles = {}
    for line in out.splitlines():
        if match := _WRK_DURATION.match(line):
            percentiles[int(match[1])] = float(match[2]) * _WRK_UNITS[match[3]]
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "load_generator": "wrk",
        "requests": requests,
        "errors": (int(errors[1]) if errors else 0)
        + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0),
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "p50_ms": percentiles[50],
        "p99_ms": percentiles[99],
        "max_ms": None,
    }


def run_load(port: int, path: str, clients: int, warmup: float, seconds: float) -> dict[str, Any]:
    start = time.monotonic()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = latencies[n]
        while True:
            began = time.monotonic()
            if began >= stop_at:
                break
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.will_close:  # gunicorn's sync workers close after each response
                    conn.close()
            except OSError:
                ok = False
                conn.close()
            if began >= measure_from:
                if ok:
                    mine.append(time.monotonic() - began)
                else:
                    errors[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    samples = sorted(x for mine in latencies for x in mine)
    if not samples:
        raise SystemExit("no request succeeded")
    return {
        "load_generator": "python threads",
        "requests": len(samples),
        "errors": sum(errors),
        "requests_per_second": round(len(samples) / seconds, 1),
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 2),
        "max_ms": round(samples[-1] * 1000, 2),
    }


def print_table(result: dict[str, Any]) -> None:
    rows = [
        ("endpoint", result["endpoint"]),
        (
            "gunicorn workers x threads / clients",
            f"{result['gunicorn_workers']} x {result['gunicorn_threads']} / {result['clients']}",
        ),
        ("measured seconds", result["seconds"]),
        ("load generator", result["load_generator"]),
        ("requests (errors)", f"{result['requests']} ({result['errors']})"),
        ("requests/s", result["requests_per_second"]),
        ("p50 latency (ms)", result["p50_ms"]),
        ("p99 latency (ms)", result["p99_ms"]),
        ("queries per request", result["queries_per_request"]),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
