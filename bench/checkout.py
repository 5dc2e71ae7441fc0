"""Checkout benchmark: shoppers racing through create cart -> add one unit -> checkout.

    # the full run (a few minutes; do not run it on a shared machine while others work):
    .venv/bin/python bench/checkout.py
    # a smoke run of a few seconds:
    .venv/bin/python bench/checkout.py --shoppers 40 --concurrency 8 --scarce-stock 10
    # the web server at a lower CPU priority than the relay and django-q2:
    .venv/bin/python bench/checkout.py --web-nice 10

It starts the production shape on PostgreSQL, on a database of its own (dropped and created
again, migrated, seeded through the API): gunicorn with the production settings
(SECURE_SSL_REDIRECT off, rate limits off; 2 sync workers as `manage.py serve` starts, or
`--workers`), the event relay (`relay_events`) and django-q2 (`qcluster`). Then, per run, a
new hot product and N shoppers, C at a time, each:

    POST /api/v1/carts/  ->  POST /carts/{id}/items {1 unit}  ->  POST /carts/{id}/checkout
    (tok_ok, Idempotency-Key)

Two runs: the hot product with `--scarce-stock` units (100: most shoppers must get 409
out_of_stock, and no unit may be sold twice) and with ample stock. A poller follows every
accepted order with GET /carts/{id}/ until it is paid or payment_failed. It is one thread
asking about each waiting order in turn, so while the server is busy a round takes longer
than a second and "as polled" runs late; the cart's own timestamps are the measure.

Reported per run: shoppers/s and accepted checkouts/s over the shopping phase; p50/p95/p99
of each step; oversell (accepted or paid beyond the stock; must be 0) and the stock's final
counters; checkout-to-outcome time (from the cart's own timestamps, and as the poller saw
it) and how many orders settled within 5 s; CPU ms per shopper of the server processes
(gunicorn, relay, qcluster, from /proc), of the database's backends and of this load
generator, and the whole machine's busy, idle and steal time. Prints a table, writes
bench/results/checkout.json.
"""

import argparse
import http.client
import json
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "checkout.json"
PG = "postgres://postgres@127.0.0.1:5432"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FINAL = {"paid", "payment_failed", "expired"}
STAFF = ("admin@example.com", "bench-admin-password")


# -- the servers ----------------------------------------------------------------------------------


def server_env(database: str, port: int, redis_url: str) -> dict[str, str]:
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()  # no tasks left over from an earlier run
    return {
        # The production shape of DESIGN.md: django-q2 (and the cache) on Redis.
        "REDIS_URL": redis_url,
        # Emails are rendered and handed to a backend that drops them: the console backend
        # would print two MIME messages per shopper into this benchmark's output.
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecommerce.settings.production",
        "DATABASE_URL": f"{PG}/{database}",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "PAYMENT_GATEWAY": "apps.payments.gateways.fake.FakeGateway",  # takes no money
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # One client address plays 400 shoppers: no rate limit (a huge one would still cost
        # two Redis round trips per request and a history list that grows with every one).
        "THROTTLE_ANON_RATE": "off",
        "THROTTLE_USER_RATE": "off",
        "THROTTLE_AUTH_RATE": "off",
        "DEMO_ADMIN_EMAIL": STAFF[0],
        "DEMO_ADMIN_PASSWORD": STAFF[1],
        "LOG_LEVEL": "ERROR",  # 409s are expected here, not news
        "PORT": str(port),
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def fresh_database(name: str, env: dict[str, str]) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage(env, "migrate", "--noinput")
    manage(env, "ensure_demo_admin")


def start_servers(
    env: dict[str, str], port: int, workers: int, threads: int, web_nice: int = 0
) -> list[Any]:
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "ecommerce.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    commands = [
        gunicorn,
        [sys.executable, "manage.py", "relay_events"],
        [sys.executable, "manage.py", "qcluster"],
    ]
    # --web-nice: gunicorn at a lower CPU priority than the relay and django-q2, so on a
    # saturated machine the orders already taken are finished before new requests are served.
    lower_web = (lambda: os.nice(web_nice)) if web_nice else None
    return [
        subprocess.Popen(cmd, cwd=ROOT, env=env, preexec_fn=lower_web if cmd is gunicorn else None)
        for cmd in commands
    ]


def stop_servers(processes: list[Any]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


# -- CPU time from /proc --------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(f) for f in fields[11:15])


def tree_cpu_ms(roots: Iterable[int]) -> float:
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p)))}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, list(roots)
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            todo.extend(children.get(pid, []))
    return total * 1000 / CLOCK_TICKS


def client_cpu_ms() -> float:
    """CPU time of this process (the load generator's threads), servers not included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def machine_cpu_ms() -> dict[str, float]:
    """The machine's CPU time so far, all cores: busy, idle (with I/O wait) and steal."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    to_ms = 1000 / CLOCK_TICKS
    return {
        "busy": (user + nice + system + irq + softirq) * to_ms,
        "idle": (idle + iowait) * to_ms,
        "steal": steal * to_ms,
    }


def database_backends(database: str) -> list[int]:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchall()
    return [r[0] for r in rows]


def backends_cpu_ms(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        s = _stat(pid)
        if s:
            out[pid] = s[1] * 1000 / CLOCK_TICKS
    return out


# -- the client ---------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection per thread (reopened when the server closes it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        payload = json.dumps(body) if body is not None else None
        all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
        all_headers.update(headers or {})
        for attempt in (1, 2):
            try:
                conn.request(method, path, payload, all_headers)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                return response.status, json.loads(data) if data else None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()  # the server closed a kept-alive connection: open a new one
                if attempt == 2:
                    raise
            except Exception:
                conn.close()
                raise
        raise AssertionError("unreachable")


def wait_until_up(client: Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.request("GET", "/api/v1/health")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not come up")


def staff_token(client: Client) -> str:
    status, body = client.request(
        "POST", "/api/v1/auth/token", {"email": STAFF[0], "password": STAFF[1]}
    )
    assert status == 200, body
    return str(body["token"])


def new_hot_product(client: Client, token: str, stock: int) -> str:
    status, body = client.request(
        "POST",
        "/api/v1/products/",
        {
            "sku": f"HOT-{uuid.uuid4().hex[:10]}",
            "name": "The hot product",
            "price": "19.99",
            "initial_stock": stock,
        },
        {"Authorization": f"Token {token}"},
    )
    assert status == 201, body
    return str(body["id"])


def stock_of(client: Client, token: str, product_id: str) -> dict[str, int]:
    status, body = client.request(
        "GET", f"/api/v1/inventory/{product_id}/", headers={"Authorization": f"Token {token}"}
    )
    assert status == 200, body
    return {k: body[k] for k in ("on_hand", "reserved", "available")}


@dataclass
class Shopper:
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    cart_id: str = ""
    token: str = ""
    outcome: str = ""  # "accepted", an error code, or "error:<status>"
    checked_out_at: float = 0.0  # monotonic, when the 202 arrived
    final_status: str = ""
    settle_polled: float | None = None
    settle_server: float | None = None


def shop(client: Client, product_id: str) -> Shopper:
    s = Shopper()
    t = time.perf_counter()
    status, body = client.request("POST", "/api/v1/carts/")
    s.steps["create"] = time.perf_counter() - t
    if status != 201:
        s.outcome = f"error:{status}"
        return s
    s.cart_id, s.token = body["id"], body["token"]
    auth = {"X-Cart-Token": s.token}

    t = time.perf_counter()
    status, body = client.request(
        "POST", f"/api/v1/carts/{s.cart_id}/items", {"product_id": product_id, "quantity": 1}, auth
    )
    s.steps["add"] = time.perf_counter() - t
    if status != 201:
        s.outcome = body["errors"][0]["code"] if status == 409 else f"error:{status}"
        return s

    t = time.perf_counter()
    status, body = client.request(
        "POST",
        f"/api/v1/carts/{s.cart_id}/checkout",
        {"email": "shopper@example.com", "payment_token": "tok_ok"},
        {**auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    s.steps["checkout"] = time.perf_counter() - t
    if status == 202:
        s.outcome, s.checked_out_at = "accepted", time.monotonic()
    else:
        s.outcome = body["errors"][0]["code"] if status == 409 else f"error:{status}"
    return s


class Poller(threading.Thread):
    """Follows accepted orders with GET /carts/{id}/ until each reaches its outcome.

    Each pending order is asked about every ``ROUND_SECONDS``, like a storefront polling its
    order page; the precise checkout-to-outcome time comes from the cart's own timestamps.
    Every poll is load on the same two cores, so it polls as a storefront would (once a
    second), not as fast as it could.
    """

    ROUND_SECONDS = 1.0

    def __init__(self, client: Client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.polls = 0
        self.pending: list[Shopper] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def follow(self, shopper: Shopper) -> None:
        with self.lock:
            self.pending.append(shopper)

    def run(self) -> None:
        while not self.stop.is_set():
            round_started = time.monotonic()
            with self.lock:
                batch = list(self.pending)
            for s in batch:
                self.polls += 1
                status, body = self.client.request(
                    "GET", f"/api/v1/carts/{s.cart_id}/", headers={"X-Cart-Token": s.token}
                )
                if status == 200 and body["status"] in FINAL:
                    s.final_status = body["status"]
                    s.settle_polled = time.monotonic() - s.checked_out_at
                    s.settle_server = (
                        datetime.fromisoformat(body["updated_at"])
                        - datetime.fromisoformat(body["checked_out_at"])
                    ).total_seconds()
                    with self.lock:
                        self.pending.remove(s)
            time.sleep(max(0.0, self.ROUND_SECONDS - (time.monotonic() - round_started)))

    def wait_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return True
            time.sleep(0.05)
        return False


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0], "max": values[0]}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}


def run(
    args: argparse.Namespace,
    client: Client,
    staff: str,
    servers: list[Any],
    stock: int,
    label: str,
) -> dict[str, Any]:
    product_id = new_hot_product(client, staff, stock)
    # Warm-up: every gunicorn worker has its code and connection ready (carts left empty).
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(lambda _: client.request("POST", "/api/v1/carts/"), range(args.workers * 4)))

    poller = Poller(client)
    poller.start()
    db_before = backends_cpu_ms(database_backends(args.database))
    cpu_before = [tree_cpu_ms([p.pid]) for p in servers]
    client_before = client_cpu_ms()
    machine_before = machine_cpu_ms()
    started = time.perf_counter()

    def one(_: int) -> Shopper:
        s = shop(client, product_id)
        if s.outcome == "accepted":
            poller.follow(s)
        return s

    with ThreadPoolExecutor(args.concurrency) as pool:
        shoppers = list(pool.map(one, range(args.shoppers)))
    shopping_seconds = time.perf_counter() - started
    settled = poller.wait_empty(timeout=args.settle_timeout)
    poller.stop.set()
    poller.join()
    total_seconds = time.perf_counter() - started
    # servers are [gunicorn, relay, qcluster], as start_servers starts them
    cpu_by_role = {
        role: tree_cpu_ms([p.pid]) - before
        for role, p, before in zip(("web", "relay", "workers"), servers, cpu_before, strict=True)
    }
    cpu_ms = sum(cpu_by_role.values())
    client_ms = client_cpu_ms() - client_before
    machine = {k: v - machine_before[k] for k, v in machine_cpu_ms().items()}
    db_after = backends_cpu_ms(database_backends(args.database))
    db_ms = sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items())

    accepted = [s for s in shoppers if s.outcome == "accepted"]
    outcomes: dict[str, int] = {}
    for s in shoppers:
        outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    finals: dict[str, int] = {}
    for s in accepted:
        finals[s.final_status or "unsettled"] = finals.get(s.final_status or "unsettled", 0) + 1
    final_stock = stock_of(client, staff, product_id)
    paid = finals.get("paid", 0)
    return {
        "label": label,
        "stock": stock,
        "shoppers": args.shoppers,
        "concurrency": args.concurrency,
        "shopping_seconds": shopping_seconds,
        "total_seconds": total_seconds,
        "shoppers_per_second": args.shoppers / shopping_seconds,
        "checkouts_accepted_per_second": len(accepted) / shopping_seconds,
        "outcomes": outcomes,
        "order_outcomes": finals,
        "all_settled": settled,
        "settled_within_5s": sum(
            1 for s in accepted if s.settle_server is not None and s.settle_server <= 5.0
        ),
        "order_polls": poller.polls,
        "oversell": max(0, len(accepted) - stock) + max(0, paid - stock),
        "final_stock": final_stock,
        "stock_consistent": final_stock
        == {
            "on_hand": stock - paid,
            "reserved": 0,
            "available": stock - paid,
        },
        "steps_ms": {
            step: {
                k: (v * 1000 if v is not None else None)
                for k, v in percentiles(
                    [s.steps[step] for s in shoppers if step in s.steps]
                ).items()
            }
            for step in ("create", "add", "checkout")
        },
        "checkout_to_outcome_ms": {
            "server_timestamps": {
                k: (v * 1000 if v is not None else None)
                for k, v in percentiles(
                    [s.settle_server for s in accepted if s.settle_server is not None]
                ).items()
            },
            "polled": {
                k: (v * 1000 if v is not None else None)
                for k, v in percentiles(
                    [s.settle_polled for s in accepted if s.settle_polled is not None]
                ).items()
            },
        },
        "cpu_ms_per_shopper": {
            "servers": cpu_ms / args.shoppers,
            **{role: ms / args.shoppers for role, ms in cpu_by_role.items()},
            "database": db_ms / args.shoppers,
            "load_generator": client_ms / args.shoppers,
        },
        # The whole machine from the first shopper to the last outcome: "busy" is every
        # process (the servers, the database, the load generator, anything else running), and
        # "steal" is time the virtual machine's host gave to others, a sign of a noisy run.
        "machine_cpu_ms": machine,
    }


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def print_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"\n== {r['label']}: stock {r['stock']}, {r['shoppers']} shoppers, "
            f"{r['concurrency']} at a time"
        )
        print(f"  shoppers/s            {r['shoppers_per_second']:.1f}")
        print(f"  accepted checkouts/s  {r['checkouts_accepted_per_second']:.1f}")
        print(f"  checkout answers      {r['outcomes']}")
        print(
            f"  order outcomes        {r['order_outcomes']} (all settled: {r['all_settled']}, "
            f"{r['order_polls']} polls)"
        )
        print(
            f"  settled within 5 s    {r['settled_within_5s']} of "
            f"{r['outcomes'].get('accepted', 0)} accepted"
        )
        print(f"  oversell              {r['oversell']}")
        print(f"  final stock           {r['final_stock']} (consistent: {r['stock_consistent']})")
        print(f"  {'ms':<22}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
        rows = [(f"step {k}", v) for k, v in r["steps_ms"].items()] + [
            ("checkout->outcome", r["checkout_to_outcome_ms"]["server_timestamps"]),
            ("  (as polled)", r["checkout_to_outcome_ms"]["polled"]),
        ]
        for name, p in rows:
            print(
                f"  {name:<22}{fmt(p['p50']):>8}{fmt(p['p95']):>8}{fmt(p['p99']):>8}"
                f"{fmt(p['max']):>8}"
            )
        cpu = r["cpu_ms_per_shopper"]
        print(
            f"  CPU ms per shopper    servers {cpu['servers']:.1f} (web {cpu['web']:.1f}, "
            f"relay {cpu['relay']:.1f}, django-q2 {cpu['workers']:.1f}), "
            f"database {cpu['database']:.1f}, load generator {cpu['load_generator']:.1f}"
        )
        machine = r["machine_cpu_ms"]
        print(
            f"  machine CPU s         busy {machine['busy'] / 1000:.1f}, "
            f"idle {machine['idle'] / 1000:.1f}, steal {machine['steal'] / 1000:.1f} "
            f"over {r['total_seconds']:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--scarce-stock", type=int, default=100)
    parser.add_argument("--ample-stock", type=int, default=1_000_000)
    parser.add_argument(
        "--runs",
        default="scarce,ample",
        type=lambda text: text.split(","),
        help="which runs, in order: scarce, ample or scarce,ample",
    )
    # Two, as `manage.py serve` starts by default (WEB_CONCURRENCY): on two cores shared with
    # the relay, django-q2 and PostgreSQL, four sync workers take the CPU the orders need to
    # settle (docs/BENCHMARKS.md). The Oscar reference there ran four.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument(
        "--web-nice", type=int, default=0, help="run gunicorn this much nicer than the workers"
    )
    parser.add_argument("--port", type=int, default=8014)
    parser.add_argument("--database", default="shop_bench_checkout")
    parser.add_argument("--settle-timeout", type=float, default=60.0)
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/5",
        help="REDIS_URL for django-q2 and the cache ('' for the ORM broker)",
    )
    args = parser.parse_args()
    if unknown := set(args.runs) - {"scarce", "ample"}:
        parser.error(f"--runs: unknown run {', '.join(sorted(unknown))} (scarce, ample)")

    env = server_env(args.database, args.port, args.redis)
    print(f"setting up database {args.database} ...", flush=True)
    fresh_database(args.database, env)
    servers = start_servers(env, args.port, args.workers, args.threads, args.web_nice)
    try:
        client = Client(args.port)
        wait_until_up(client)
        staff = staff_token(client)
        stocks = {"scarce": args.scarce_stock, "ample": args.ample_stock}
        results = [
            run(args, client, staff, servers, stocks[name], f"{name} stock") for name in args.runs
        ]
    finally:
        stop_servers(servers)

    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "checkout",
        "command": " ".join(["bench/checkout.py", *sys.argv[1:]]),
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "gunicorn": {"workers": args.workers, "threads": args.threads, "nice": args.web_nice},
        "runs": results,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    if any(r["oversell"] for r in results):
        raise SystemExit("OVERSOLD")


if __name__ == "__main__":
    main()
