"""Crash drill: PostgreSQL ends the shop's connections, or the task broker loses its queue,
while shoppers check out.

    # the two columns of docs/OUTAGES.md's table (under half a minute each):
    .venv/bin/python bench/drill_connection_cuts.py --target all
    .venv/bin/python bench/drill_connection_cuts.py --target qcluster
    # PostgreSQL restarted once, 2 s in; shoppers send a request up to 40 times meanwhile:
    .venv/bin/python bench/drill_connection_cuts.py --target restart --tries 40
    # every queued task lost (Redis flushed), found again by the stalled sweeps (3 minutes):
    .venv/bin/python bench/drill_connection_cuts.py --target broker
    # qcluster paused 40 s after the shoppers: a backlog the sweeps queue a second time
    .venv/bin/python bench/drill_connection_cuts.py --target pause
    # a smoke run:
    .venv/bin/python bench/drill_connection_cuts.py --target qcluster --shoppers 60

It starts the production shape as bench/checkout.py does (gunicorn with 2 sync workers,
relay_events, qcluster; a database of its own, dropped and created again, and a Redis db of
its own, flushed), with emails sent by SMTP to a sink in this process. N shoppers, C at a
time, create a cart, add one unit of a product with ample stock and check out (tok_ok),
sending a request again 0.2 s after a 5xx or no answer, up to 10 times more (`--tries`) (the
checkout with the same Idempotency-Key). Meanwhile `pg_terminate_backend` runs every 0.1 s
on every backend of the database (`--target all`) or only on qcluster's (`--target
qcluster`: the connections whose client ports `ss -tnp` shows held by qcluster's process
tree), or the server is restarted once (`--target restart`, `pg_ctlcluster ... restart`:
needs to run as root or postgres on the database's machine). Or no connection is cut and
the broker loses every task queued while they shop (`--target broker`): qcluster is paused
(SIGSTOP) meanwhile, then the Redis database is flushed and qcluster goes on, as after a
Redis restart without persistence; only the stalled sweeps can find that work again. Or
qcluster stays paused `--pause` seconds more and nothing is flushed (`--target pause`): a
backlog older than the sweeps' 30 s, which they queue a second time. When
the shoppers are done the cutting stops, and the drill waits up to `--drain` seconds (60; 300
for the broker) for nothing to be pending.

Reported: the connections ended, by process; the answers by status (a 503 must be
`service_unavailable` with `Retry-After: 1`), retries; checkouts accepted and paid,
checkout to paid p50/p95/max from the carts' timestamps; emails created, sent, created to
sent, and what the SMTP sink received; payments, the fake gateway's charges and calls per
key, refunds; stock and ledger; bus deliveries; failed django-q2 tasks; lines of the
servers' log (bench/results/drill_connection_cuts.log) saying "database error", "trying
again" and "relay pass failed"; how long the backlog took to drain, and what was left.
Prints a table, writes bench/results/drill_connection_cuts.json, and exits non-zero when an
invariant is broken: a 500 or no answer, a 503 of another shape, a checkout never accepted,
a payment charged twice, an email received twice or not at all, stock or ledger off, a dead
delivery, anything pending after the drain window.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkout import (
    PG,
    ROOT,
    Client,
    _stat,
    fresh_database,
    new_hot_product,
    server_env,
    staff_token,
    start_servers,
    stock_of,
    stop_servers,
    wait_until_up,
)
from bench.common import RESULTS, percentile, print_table, write_results
from tests.notifications.smtp import LocalSmtpServer, RecordingHandler

NAME = "drill_connection_cuts"
ROLES = ("web", "relay", "qcluster")  # in the order start_servers starts them
STOCK = 100_000
TRIES = 11  # the first and 10 more (--tries)
RETRY_SECONDS = 0.2
CUT_SECONDS = 0.1
TARGETS = {
    "all": "every backend",
    "qcluster": "qcluster backends",
    "restart": "a server restart",
    "broker": "the task broker's queue flushed",
    "pause": "qcluster paused",
}
LOG_LINES = (
    "database error",
    "trying again",
    "trying again in 0 s",
    "relay pass failed",
    "was stalled",  # a charge or an email the stalled sweeps queued again
)


# -- the servers ----------------------------------------------------------------------------------


def start_logged(env: dict[str, str], port: int, log: Path) -> list[Any]:
    """bench/checkout.py's servers, their output (which the drill counts) going to ``log``.

    They inherit this process's stdout and stderr, so both point at the log while they start.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with log.open("wb") as out:
        for fd in saved:
            os.dup2(out.fileno(), fd)
        try:
            return start_servers(env, port, workers=2, threads=1)
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def process_tree(root: int) -> list[int]:
    """``root`` and every process under it."""
    children: dict[int, list[int]] = {}
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        if stat := _stat(pid):
            children.setdefault(stat[0], []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def connection_roles(roots: dict[str, int]) -> dict[int, str]:
    """The client port of each connection to PostgreSQL -> the role whose process holds it."""
    role_of = {pid: role for role, root in roots.items() for pid in process_tree(root)}
    server = urlsplit(PG)
    sockets = subprocess.run(
        ["ss", "-tnpH", "state", "established", "dst", f"{server.hostname}:{server.port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ports = {}
    for line in sockets.splitlines():
        holders = [int(pid) for pid in re.findall(r"pid=(\d+)", line) if int(pid) in role_of]
        if holders:
            ports[int(line.split()[2].rsplit(":", 1)[1])] = role_of[holders[0]]
    return ports


class Killer(threading.Thread):
    """Ends the database's backends every 0.1 s: all of them, or only ``target``'s."""

    def __init__(self, database: str, roots: dict[str, int], target: str) -> None:
        super().__init__(daemon=True)
        self.database, self.roots, self.target = database, roots, target
        self.stop = threading.Event()
        self.rounds = 0
        self.ended: Counter[str] = Counter()  # role -> connections ended

    def run(self) -> None:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            while not self.stop.is_set():
                round_started = time.monotonic()
                roles = connection_roles(self.roots)
                ports = [port for port, role in roles.items() if role == self.target]
                rows = conn.execute(
                    "SELECT client_port, pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND (%s OR client_port = ANY(%s))",
                    [self.database, self.target == "all", ports],
                ).fetchall()
                self.ended.update(roles.get(port, "unknown") for port, ended in rows if ended)
                self.rounds += 1
                self.stop.wait(max(0.0, CUT_SECONDS - (time.monotonic() - round_started)))


class Restarter(threading.Thread):
    """Restarts the PostgreSQL server once, ``after`` seconds in (``pg_ctlcluster``'s fast
    mode: every session ended, the server down until it is up again), as a failover or a
    minor-version upgrade does. Counts the shop's connections it ended."""

    def __init__(self, database: str, roots: dict[str, int], after: float) -> None:
        super().__init__(daemon=True)
        self.database, self.roots, self.after = database, roots, after
        self.stop = threading.Event()
        self.rounds = 0
        self.ended: Counter[str] = Counter()
        self.down_seconds = 0.0

    def run(self) -> None:
        if self.stop.wait(self.after):
            return
        self.ended.update(connection_roles(self.roots).values())
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        started = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
        )
        self.down_seconds = time.monotonic() - started
        self.rounds = 1


class BrokerFlush(threading.Thread):
    """Loses every task queued while the shoppers shop: qcluster's process tree is paused
    (SIGSTOP), so their charges and emails pile up in Redis; once the shoppers are done, the
    Redis database is flushed and qcluster goes on (SIGCONT). Counts the tasks lost.

    With ``flush`` off, nothing is lost: qcluster stays paused ``hold`` seconds more and then
    finds a backlog older than the stalled sweeps' 30 s, whose tasks the sweeps queue again
    (a cluster that was down); each must still be done once. Counts the tasks held."""

    def __init__(
        self, redis_url: str, roots: dict[str, int], *, flush: bool = True, hold: float = 0.0
    ) -> None:
        super().__init__(daemon=True)
        self.redis_url, self.root = redis_url, roots["qcluster"]
        self.flush, self.hold = flush, hold
        self.stop = threading.Event()
        self.rounds = 0
        self.ended: Counter[str] = Counter()

    def run(self) -> None:
        import redis

        tree = process_tree(self.root)
        for pid in tree:
            os.kill(pid, signal.SIGSTOP)
        try:
            self.stop.wait()
            time.sleep(self.hold)
            broker = redis.Redis.from_url(self.redis_url)
            lists = [key for key in broker.scan_iter() if broker.type(key) == b"list"]
            self.ended["queued tasks"] = sum(broker.llen(key) for key in lists)
            if self.flush:
                broker.flushdb()
            self.rounds = 1
        finally:
            for pid in tree:
                os.kill(pid, signal.SIGCONT)


# -- the shoppers ---------------------------------------------------------------------------------


@dataclass
class Answers:
    """Every answer the shoppers got: by status (0: no answer), and the retries they made."""

    tries: int = TRIES  # how many times a request is sent before the shopper gives up
    by_status: Counter[int] = field(default_factory=Counter)
    bad_503: int = 0  # not service_unavailable with Retry-After: 1
    retries: int = 0
    most_tries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: int, retry_after: str | None, body: Any, tries: int) -> None:
        with self.lock:
            self.by_status[status] += 1
            if status == 503 and not (
                retry_after == "1"
                and isinstance(body, dict)
                and body.get("type") == "server_error"
                and body["errors"][0]["code"] == "service_unavailable"
            ):
                self.bad_503 += 1
            if tries > 1:
                self.retries += 1
            self.most_tries = max(self.most_tries, tries)


def send(
    port: int,
    answers: Answers,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The request, sent again after 0.2 s while it answers 5xx or nothing, up to
    ``answers.tries`` times.

    A new connection each time: gunicorn's sync workers close theirs after each answer.
    """
    payload = json.dumps(body) if body is not None else None
    all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    all_headers.update(headers or {})
    for tries in range(1, answers.tries + 1):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(method, path, payload, all_headers)
            response = conn.getresponse()
            status, retry_after = response.status, response.getheader("Retry-After")
            data = response.read()
        except (OSError, http.client.HTTPException):
            status, retry_after, data = 0, None, b""
        finally:
            conn.close()
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        answers.note(status, retry_after, answer, tries)
        if 0 < status < 500:
            break
        time.sleep(RETRY_SECONDS)
    return status, answer


def shop(port: int, answers: Answers, product_id: str, n: int) -> bool:
    """Create a cart, add one unit, check out: True when the checkout was accepted."""
    status, cart = send(port, answers, "POST", "/api/v1/carts/")
    if status != 201:
        return False
    auth = {"X-Cart-Token": cart["token"]}
    item = {"product_id": product_id, "quantity": 1}
    if send(port, answers, "POST", f"/api/v1/carts/{cart['id']}/items", item, auth)[0] != 201:
        return False
    status, _ = send(
        port,
        answers,
        "POST",
        f"/api/v1/carts/{cart['id']}/checkout",
        {"email": f"shopper{n}@example.com", "payment_token": "tok_ok"},
        {**auth, "Idempotency-Key": str(uuid.uuid4())},  # the same for every try
    )
    return status == 202


# -- measuring ------------------------------------------------------------------------------------


def pending(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """What the shop still has to finish: orders, charges, emails, deliveries."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM cart_cart WHERE status = 'checked_out'),"
        " (SELECT count(*) FROM payments_payment WHERE status = 'pending'),"
        " (SELECT count(*) FROM notifications_notification"
        "   WHERE channel = 'email' AND status = 'pending'),"
        " (SELECT count(*) FROM bus_delivery WHERE status = 'pending')"
    ).fetchone()
    assert row is not None
    return dict(zip(("orders", "charges", "emails", "deliveries"), row, strict=True))


def drain(conn: psycopg.Connection[Any], seconds: float) -> tuple[float | None, dict[str, int]]:
    """Wait up to ``seconds`` for nothing to be pending: (how long it took, what is left)."""
    started = time.monotonic()
    while any((left := pending(conn)).values()):
        if time.monotonic() - started > seconds:
            return None, left
        time.sleep(0.5)
    return time.monotonic() - started, left


def spread(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of ``values`` (seconds)."""
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values, default=float("nan")),
    }


def measure(
    conn: psycopg.Connection[Any], sink: RecordingHandler, product_id: str
) -> dict[str, Any]:
    """The orders, emails, payments, ledger, deliveries and failed tasks, from the database."""

    def column(sql: str) -> list[Any]:
        return [row[0] for row in conn.execute(sql)]

    emails = conn.execute(
        "SELECT id::text, status, extract(epoch FROM sent_at - created_at)::float"
        " FROM notifications_notification WHERE channel = 'email'"
    ).fetchall()
    sent = {id_ for id_, status, _ in emails if status == "sent"}
    received = Counter(str(message["X-Notification-Id"]) for message in sink.messages)
    gateway = conn.execute(
        "SELECT operation, payment_id, calls, outcome FROM payments_fake_gateway_request"
    ).fetchall()
    charges = Counter(
        pay for op, pay, _, outcome in gateway if (op, outcome) == ("charge", "succeeded")
    )
    ledger = conn.execute(
        "SELECT on_hand_delta, reserved_delta, on_hand_after, reserved_after"
        " FROM inventory_stockmovement WHERE product_id = %s ORDER BY id",
        [product_id],
    ).fetchall()
    on_hand = reserved = 0
    chained = True
    for on_hand_delta, reserved_delta, on_hand_after, reserved_after in ledger:
        on_hand, reserved = on_hand + on_hand_delta, reserved + reserved_delta
        chained &= (on_hand, reserved) == (on_hand_after, reserved_after)
    return {
        "carts": dict(Counter(column("SELECT status FROM cart_cart"))),
        "checkout_to_paid_s": spread(
            column(
                "SELECT extract(epoch FROM updated_at - checked_out_at)::float FROM cart_cart"
                " WHERE status = 'paid'"
            )
        ),
        "units_paid": sum(
            column(
                "SELECT quantity FROM cart_line JOIN cart_cart ON cart_cart.id = cart_id"
                " WHERE cart_cart.status = 'paid'"
            )
        ),
        "emails": {
            "by_status": dict(Counter(status for _, status, _ in emails)),
            "created_to_sent_s": spread([s for _, status, s in emails if status == "sent"]),
            "received": sum(received.values()),
            "received_twice": sum(1 for n in received.values() if n > 1),
            "sent_not_received": len(sent - set(received)),
            "received_not_sent": len(set(received) - sent),
        },
        "payments": dict(Counter(column("SELECT status FROM payments_payment"))),
        "gateway": {
            "charges": sum(charges.values()),
            "payments_charged_twice": sum(1 for n in charges.values() if n > 1),
            "keys_asked_twice": sum(1 for _, _, calls, _ in gateway if calls > 1),
            "refunds": sum(1 for op, _, _, _ in gateway if op == "refund"),
        },
        "ledger": {"on_hand": on_hand, "reserved": reserved, "chained": chained},
        "deliveries": dict(Counter(column("SELECT status FROM bus_delivery"))),
        "failed_tasks": len(column("SELECT id FROM django_q_task WHERE NOT success")),
    }


def broken(r: dict[str, Any]) -> list[str]:
    """The invariants the run broke (none, if the shop recovered as it should)."""
    answers, emails, gateway, stock = r["answers"], r["emails"], r["gateway"], r["stock"]
    # A 503 is the answer expected of a request cut short (its shape is checked on its own).
    failures = sum(n for status, n in answers.items() if status != 503 and not 0 < status < 500)
    checks = {
        "nothing cut or lost (the drill did not run)": not sum(r["connections_ended"].values()),
        "a 500 or no answer": failures,
        "a 503 of another shape": r["bad_503"],
        "a checkout never accepted": r["shoppers"] - r["accepted"],
        # A key asked twice is no fault: a call whose answer the cut lost is made again, and
        # the key keeps it one charge. Reported, not a break.
        "a payment charged twice": gateway["payments_charged_twice"],
        "an email received twice": emails["received_twice"],
        "an email sent and not received": emails["sent_not_received"],
        "an email received and not marked sent": emails["received_not_sent"],
        "stock off": stock["on_hand"] != STOCK - r["units_paid"] or stock["reserved"] != 0,
        "ledger off": not r["ledger"]["chained"]
        or (r["ledger"]["on_hand"], r["ledger"]["reserved"])
        != (stock["on_hand"], stock["reserved"]),
        "a dead delivery": r["deliveries"].get("dead", 0),
        "pending after the drain window": sum(r["pending_after_drain"].values()),
    }
    return [name for name, count in checks.items() if count]


# -- the drill ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=tuple(TARGETS), default="all")
    parser.add_argument(
        "--restart-after", type=float, default=2.0, help="--target restart: seconds in"
    )
    parser.add_argument(
        "--pause", type=float, default=40.0, help="--target pause: seconds after the shoppers"
    )
    parser.add_argument("--tries", type=int, default=TRIES, help="sends of a request at most")
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--drain", type=float, help="seconds to wait for the backlog (60; the broker: 300)"
    )
    parser.add_argument("--database", default="shop_drill_cuts")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()
    if args.drain is None:
        args.drain = 300.0 if args.target == "broker" else 60.0

    sink = RecordingHandler()
    smtp = LocalSmtpServer(sink)
    smtp.start()
    env = {
        **server_env(args.database, args.port, args.redis),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "LOG_LEVEL": "WARNING",  # the retries of a task's step are warnings
    }
    print(f"setting up database {args.database} ...", flush=True)
    fresh_database(args.database, env)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"{NAME}.log"
    servers = start_logged(env, args.port, log)
    try:
        client = Client(args.port)
        wait_until_up(client)
        staff = staff_token(client)
        product_id = new_hot_product(client, staff, STOCK)
        answers = Answers(tries=args.tries)
        roots = {role: p.pid for role, p in zip(ROLES, servers, strict=True)}
        killer: Killer | Restarter | BrokerFlush
        if args.target == "restart":
            killer = Restarter(args.database, roots, args.restart_after)
        elif args.target == "broker":
            killer = BrokerFlush(args.redis, roots)
        elif args.target == "pause":
            killer = BrokerFlush(args.redis, roots, flush=False, hold=args.pause)
        else:
            killer = Killer(args.database, roots, args.target)
        print(f"{args.shoppers} shoppers while {TARGETS[args.target]} ...", flush=True)
        started = time.monotonic()
        killer.start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            accepted = sum(
                pool.map(lambda n: shop(args.port, answers, product_id, n), range(args.shoppers))
            )
        killer.stop.set()
        killer.join()
        cutting = time.monotonic() - started
        with psycopg.connect(f"{PG}/{args.database}", autocommit=True) as conn:
            drained_after, left = drain(conn, args.drain)
            state = measure(conn, sink, product_id)
        stock = stock_of(client, staff, product_id)
    finally:
        stop_servers(servers)
        smtp.stop()

    lines = log.read_text(errors="replace").splitlines()
    results = {
        "command": " ".join([f"bench/{NAME}.py", *sys.argv[1:]]),
        "target": args.target,
        "shoppers": args.shoppers,
        "concurrency": args.concurrency,
        "cutting_seconds": cutting,
        "cut_rounds": killer.rounds,
        "connections_ended": dict(killer.ended),
        "server_restart_seconds": getattr(killer, "down_seconds", None),
        "answers": dict(sorted(answers.by_status.items())),
        "bad_503": answers.bad_503,
        "retries": answers.retries,
        "most_tries": answers.most_tries,
        "accepted": accepted,
        **state,
        "stock": stock,
        "log_lines": {needle: sum(needle in line for line in lines) for needle in LOG_LINES},
        "drained_after_s": drained_after,
        "pending_after_drain": left,
    }
    results["broken"] = broken(results)
    print_results(results, args.database, args.drain)
    print(f"\nwritten to {write_results(NAME, results).relative_to(ROOT)}")
    if results["broken"]:
        raise SystemExit(f"BROKEN: {', '.join(results['broken'])}")


def print_results(r: dict[str, Any], database: str, drain_seconds: float) -> None:
    """The results as one table, a row for each thing measured."""

    def listed(counts: dict[Any, int]) -> str:
        return ", ".join(f"{key} {n}" for key, n in counts.items() if n) or "none"

    def timing(s: dict[str, float]) -> str:
        return f"p50 {s['p50']:.2f} s, p95 {s['p95']:.2f} s, max {s['max']:.2f} s"

    emails, gateway, stock, logs = r["emails"], r["gateway"], r["stock"], r["log_lines"]
    answers = ", ".join(f"{n} x {status or 'no answer'}" for status, n in r["answers"].items())
    drained = "never" if r["drained_after_s"] is None else f"after {r['drained_after_s']:.1f} s"
    print_table(
        f"Drill: {TARGETS[r['target']]}, "
        f"{database}, {r['shoppers']} shoppers {r['concurrency']} at a time",
        [
            ("cutting lasted", f"{r['cutting_seconds']:.1f} s, {r['cut_rounds']} rounds"),
            *(
                [("server restart took", f"{r['server_restart_seconds']:.1f} s")]
                if r["server_restart_seconds"]
                else []
            ),
            (
                {"broker": "tasks lost", "pause": "tasks held"}.get(
                    r["target"], "connections ended"
                ),
                f"{sum(r['connections_ended'].values())} ({listed(r['connections_ended'])})",
            ),
            ("answers", f"{answers}; {r['bad_503']} x 503 of another shape"),
            ("retries", f"{r['retries']}; most tries of one request: {r['most_tries']}"),
            ("checkouts accepted / paid", f"{r['accepted']} / {r['carts'].get('paid', 0)}"),
            ("carts", listed(r["carts"])),
            ("checkout to paid", timing(r["checkout_to_paid_s"])),
            ("emails", listed(emails["by_status"])),
            ("created to sent", timing(emails["created_to_sent_s"])),
            (
                "SMTP sink",
                f"{emails['received']} received, {emails['received_twice']} twice, "
                f"{emails['sent_not_received']} sent and not received",
            ),
            ("payments", listed(r["payments"])),
            (
                "gateway",
                f"{gateway['charges']} charges, {gateway['payments_charged_twice']} "
                f"payments charged twice, {gateway['keys_asked_twice']} keys asked twice, "
                f"{gateway['refunds']} refunds",
            ),
            (
                "stock",
                f"on hand {stock['on_hand']} (expected {STOCK - r['units_paid']}), "
                f"reserved {stock['reserved']}; ledger {r['ledger']['on_hand']} / "
                f"{r['ledger']['reserved']}, rows chained: {r['ledger']['chained']}",
            ),
            ("bus deliveries", listed(r["deliveries"])),
            ("failed django-q2 tasks", str(r["failed_tasks"])),
            (
                "log lines",
                f"database error {logs['database error']}, trying again "
                f"{logs['trying again']} ({logs['trying again in 0 s']} at once), "
                f"relay pass failed {logs['relay pass failed']}, queued again by a sweep "
                f"{logs['was stalled']}",
            ),
            ("drained", drained),
            (f"left after {drain_seconds:.0f} s", listed(r["pending_after_drain"])),
            ("broken", ", ".join(r["broken"]) or "nothing"),
        ],
    )


if __name__ == "__main__":
    main()
