"""Event bus benchmark (PostgreSQL), in-process and over Kafka.

    .venv/bin/python bench/bus.py [--events 50000] [--rate 200] [--latency-seconds 15]
                                  [--transport both|inprocess|kafka]

In-process transport:
1. Publish ``--events`` events to three subscribers (two no-op, one writing a row), in
   transactions of 100, then drain them with one relay, and again (replayed) with two.
2. Latency: a relay listens while events are published one per transaction at a steady
   ``--rate``; each is timed from its commit returning to its handler running.
3. The floor: the same rows (event, three deliveries, the effect row) written and marked
   delivered with plain psycopg statements on one connection, the least any outbox can do
   here. Our publish + one-relay drain is printed as a ratio of it.

Kafka transport, through librdkafka's mock cluster (three brokers, in this process):
4. Publish the same events (one producer delivery each); one relay produces them, one
   ``consume_events`` process runs the three subscribers. Produce, consume and end-to-end
   rates come from the deliveries' ``delivered_at``.
5. Latency as in 2, from the publishing commit to the handler in the consumer process.

Writes bench/results/bus.json. Needs PostgreSQL at BENCH_PG (default
postgres://postgres@127.0.0.1:5432); uses its own database, ``shop_bench_bus``.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    database_url,
    fresh_database,
    manage,
    mock_kafka_cluster,
    percentile,
    print_table,
    write_results,
)

DB_NAME = "shop_bench_bus"
SUBSCRIBERS = 3
TX_SIZE = 100
PRODUCER = "kafka.producer"
JOIN_SECONDS = 1  # for the consumer to join its group and be assigned its partitions


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()


def publish_events(count: int, aggregates: int) -> float:
    from django.db import transaction

    from bench.support.events import BenchEventHappened
    from ecommerce.bus import publish

    keys = [uuid.uuid4() for _ in range(aggregates)]
    started = time.perf_counter()
    for start in range(0, count, TX_SIZE):
        with transaction.atomic():
            for n in range(start, min(start + TX_SIZE, count)):
                publish(BenchEventHappened(key=keys[n % aggregates], n=n, amount=Decimal("9.99")))
    return time.perf_counter() - started


def drain_with(env: dict[str, str], relays: int) -> float:
    """Run ``relays`` relays until nothing is pending; the rate comes from delivered_at."""
    from django.db.models import Max, Min

    from ecommerce.bus.models import Delivery

    procs = [manage(env, "relay_events", "--once") for _ in range(relays)]
    for proc in procs:
        proc.wait()
    assert not Delivery.objects.exclude(status="delivered").exists(), "deliveries left over"
    span = Delivery.objects.aggregate(first=Min("delivered_at"), last=Max("delivered_at"))
    return (span["last"] - span["first"]).total_seconds()


def measure_latency(env: dict[str, str], rate: float, seconds: float) -> list[float]:
    relay = manage(env, "relay_events")
    time.sleep(2)  # let it start listening
    return timed_publishing([relay], rate, seconds)


def timed_publishing(
    workers: list[subprocess.Popen[bytes]], rate: float, seconds: float
) -> list[float]:
    """Publish one event per transaction at ``rate``; milliseconds from commit to handler."""
    from django.db import transaction

    from bench.support.events import BenchEventHappened
    from bench.support.models import BenchEffect
    from ecommerce.bus import publish

    BenchEffect.objects.all().delete()
    committed: dict[uuid.UUID, float] = {}
    interval = 1 / rate
    next_at = time.perf_counter()
    deadline = next_at + seconds
    try:
        while next_at < deadline:
            with transaction.atomic():
                event = publish(BenchEventHappened(key=uuid.uuid4(), n=0, amount=Decimal("1.00")))
            committed[event.event_id] = time.time()
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        wait_until = time.time() + 30
        while BenchEffect.objects.count() < len(committed) and time.time() < wait_until:
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait()
    handled = dict(BenchEffect.objects.values_list("event_id", "handled_at"))
    return [(handled[eid] - at) * 1000 for eid, at in committed.items() if eid in handled]


def kafka_env(env: dict[str, str], bootstrap_servers: str) -> dict[str, str]:
    """The kafka transport on the mock cluster, for this process and its children."""
    from django.conf import settings

    kenv = {
        **env,
        "EVENT_TRANSPORT": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": "bench.",
        "KAFKA_PRODUCER_CONFIG": json.dumps({"log_level": 4}),
        # Two mock cluster artefacts worked around: its classic groups wait 3 s for more
        # members (and 45 s for one that left), so the next generation protocol; and it
        # answers a fetch only after fetch.wait.max.ms (500 ms) even when data is there,
        # where a real broker answers at once.
        "KAFKA_CONSUMER_CONFIG": json.dumps(
            {"group.protocol": "consumer", "fetch.wait.max.ms": 10, "log_level": 4}
        ),
    }
    for name in ("EVENT_TRANSPORT", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX"):
        setattr(settings, name, kenv[name])
    return kenv


def empty_bus() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE bus_delivery, bus_event, bus_aggregate_sequence, bench_support_bencheffect"
        )


def kafka_drain(kenv: dict[str, str], count: int) -> dict[str, float]:
    """Relay -> mock cluster -> one consumer process; seconds per stage, from delivered_at."""
    from django.db.models import Max, Min

    from ecommerce.bus.models import Delivery

    consumer = manage(kenv, "consume_events", "--app", "bench_support")
    time.sleep(JOIN_SECONDS)
    try:
        assert manage(kenv, "relay_events", "--once").wait() == 0
        handled = Delivery.objects.exclude(subscriber=PRODUCER).filter(status="delivered")
        deadline = time.time() + 60 + count / 100
        while handled.count() < count * SUBSCRIBERS and time.time() < deadline:
            time.sleep(0.2)
        assert handled.count() == count * SUBSCRIBERS, "the consumer did not finish"
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait()
    produced = Delivery.objects.filter(subscriber=PRODUCER).aggregate(
        first=Min("delivered_at"), last=Max("delivered_at")
    )
    consumed = handled.aggregate(first=Min("delivered_at"), last=Max("delivered_at"))
    return {
        "produce": (produced["last"] - produced["first"]).total_seconds(),
        "consume": (consumed["last"] - consumed["first"]).total_seconds(),
        "end_to_end": (consumed["last"] - produced["first"]).total_seconds(),
    }


def measure_kafka_latency(kenv: dict[str, str], rate: float, seconds: float) -> list[float]:
    consumer = manage(kenv, "consume_events", "--app", "bench_support")
    relay = manage(kenv, "relay_events")
    time.sleep(JOIN_SECONDS)
    return timed_publishing([relay, consumer], rate, seconds)


def run_kafka(env: dict[str, str], args: argparse.Namespace) -> dict[str, float | int | None]:
    from confluent_kafka import Producer

    owner, bootstrap_servers = mock_kafka_cluster()  # lives as long as ``owner``
    kenv = kafka_env(env, bootstrap_servers)
    # Create the topic up front (asking for it does, as on a cluster that auto-creates), so
    # the consumer finds it when it starts.
    Producer({"bootstrap.servers": bootstrap_servers}).list_topics("bench.bench_support", 10)
    empty_bus()
    print(f"kafka: publishing {args.events} events ...", flush=True)
    publish_seconds = publish_events(args.events, args.aggregates)
    print("kafka: one relay produces, one consumer process handles ...", flush=True)
    spans = kafka_drain(kenv, args.events)
    print(f"kafka: latency at {args.rate:.0f} events/s ...", flush=True)
    latencies = measure_kafka_latency(kenv, args.rate, args.latency_seconds)
    del owner
    deliveries = args.events * SUBSCRIBERS
    return {
        "kafka_publish_events_per_s": args.events / publish_seconds,
        "kafka_produce_events_per_s": args.events / spans["produce"],
        "kafka_consume_deliveries_per_s": deliveries / spans["consume"],
        "kafka_end_to_end_deliveries_per_s": deliveries / spans["end_to_end"],
        "kafka_latency_events": len(latencies),
        "kafka_latency_ms_p50": percentile(latencies, 50),
        "kafka_latency_ms_p99": percentile(latencies, 99),
        "kafka_latency_ms_max": max(latencies) if latencies else None,
    }


FLOOR_EVENT_SQL = """
    INSERT INTO floor_event (event_id, event_type, event_version, aggregate_type, aggregate_id,
                             sequence, payload, occurred_at, correlation_id)
    VALUES (%s, %s, 1, %s, %s, %s, %s, now(), %s) RETURNING id
"""
FLOOR_DELIVERIES_SQL = """
    INSERT INTO floor_delivery (event_id, subscriber, aggregate_type, aggregate_id, sequence,
                                status, attempts, next_attempt_at, last_error)
    VALUES (%s, 'a', 'bench', %s, %s, 'pending', 0, now(), ''),
           (%s, 'b', 'bench', %s, %s, 'pending', 0, now(), ''),
           (%s, 'w', 'bench', %s, %s, 'pending', 0, now(), '')
    RETURNING id, subscriber
"""
FLOOR_MARK_SQL = """
    UPDATE floor_delivery SET status = 'delivered', delivered_at = now()
     WHERE id = %s AND status = 'pending' RETURNING subscriber
"""


def floor(count: int, aggregates: int) -> float:
    """Write and mark the same rows with plain psycopg on one connection."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(database_url(DB_NAME)) as conn:
        conn.execute("CREATE TABLE floor_event (LIKE bus_event INCLUDING ALL)")
        conn.execute("CREATE TABLE floor_delivery (LIKE bus_delivery INCLUDING ALL)")
        conn.execute("CREATE TABLE floor_effect (LIKE bench_support_bencheffect INCLUDING ALL)")
        conn.commit()
        keys = [str(uuid.uuid4()) for _ in range(aggregates)]
        started = time.perf_counter()
        delivery_ids: list[int] = []
        with conn.cursor() as cur:
            for start in range(0, count, TX_SIZE):
                for n in range(start, min(start + TX_SIZE, count)):
                    event_id = uuid.uuid4()
                    cur.execute(
                        FLOOR_EVENT_SQL,
                        (
                            event_id,
                            "bench.Event",
                            "bench",
                            keys[n % aggregates],
                            n,
                            Jsonb({"n": n, "amount": "9.99"}),
                            event_id,
                        ),
                    )
                    pk = cur.fetchone()[0]  # type: ignore[index]
                    cur.execute(
                        FLOOR_DELIVERIES_SQL,
                        (pk, keys[n % aggregates], n) * 3,
                    )
                    delivery_ids.extend(row[0] for row in cur.fetchall())
                conn.commit()
            for start in range(0, len(delivery_ids), TX_SIZE):
                for pk in delivery_ids[start : start + TX_SIZE]:
                    cur.execute(FLOOR_MARK_SQL, (pk,))
                    if cur.fetchone()[0] == "w":  # type: ignore[index]
                        cur.execute(
                            "INSERT INTO floor_effect (event_id, handled_at) VALUES (%s, %s)",
                            (uuid.uuid4(), time.time()),
                        )
                conn.commit()
        return time.perf_counter() - started


def run_inprocess(env: dict[str, str], args: argparse.Namespace) -> dict[str, float | int | None]:
    from ecommerce.bus import operations

    deliveries = args.events * SUBSCRIBERS
    print(f"publishing {args.events} events to {SUBSCRIBERS} subscribers ...", flush=True)
    publish_seconds = publish_events(args.events, args.aggregates)
    print("draining with one relay ...", flush=True)
    one_relay = drain_with(env, 1)
    operations.replay(operations.ReplaySlice())
    print("draining again (replayed) with two relays ...", flush=True)
    two_relays = drain_with(env, 2)
    print(f"latency at {args.rate:.0f} events/s for {args.latency_seconds:.0f} s ...", flush=True)
    latencies = measure_latency(env, args.rate, args.latency_seconds)
    print("the plain psycopg floor ...", flush=True)
    floor_seconds = floor(args.events, args.aggregates)
    ours = publish_seconds + one_relay
    return {
        "publish_events_per_s": args.events / publish_seconds,
        "drain_one_relay_deliveries_per_s": deliveries / one_relay,
        "drain_two_relays_deliveries_per_s": deliveries / two_relays,
        "publish_and_drain_deliveries_per_s": deliveries / ours,
        "floor_deliveries_per_s": deliveries / floor_seconds,
        "ratio_to_floor": floor_seconds / ours,
        "ratio_to_floor_two_relays": floor_seconds / (publish_seconds + two_relays),
        "latency_events": len(latencies),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p99": percentile(latencies, 99),
        "latency_ms_max": max(latencies) if latencies else None,
    }


def side_by_side(results: dict[str, Any], rate: float) -> list[tuple[str, str]]:
    """Rows of "in-process | kafka", each side only where it was measured."""

    def cell(key: str, unit: str, digits: int = 0) -> str:
        value = results.get(key)
        return f"{value:.{digits}f} {unit}" if isinstance(value, float) else "-"

    rows = [
        ("publish", "publish_events_per_s", "kafka_publish_events_per_s", "events/s", 0),
        (
            "deliver (one relay | relay -> consumer)",
            "drain_one_relay_deliveries_per_s",
            "kafka_end_to_end_deliveries_per_s",
            "deliveries/s",
            0,
        ),
        (f"latency at {rate:.0f}/s p50", "latency_ms_p50", "kafka_latency_ms_p50", "ms", 1),
        (f"latency at {rate:.0f}/s p99", "latency_ms_p99", "kafka_latency_ms_p99", "ms", 1),
    ]
    return [
        (label, f"{cell(ours, unit, digits):>20} | {cell(kafka, unit, digits)}")
        for label, ours, kafka, unit, digits in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--aggregates", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--transport", choices=["both", "inprocess", "kafka"], default="both")
    args = parser.parse_args()

    env = fresh_database(DB_NAME, "bench.settings")
    setup_django(env)

    results: dict[str, Any] = {
        "events": args.events,
        "deliveries": args.events * SUBSCRIBERS,
        "aggregates": args.aggregates,
    }
    if args.transport in ("both", "inprocess"):
        results.update(run_inprocess(env, args))
        print_table(
            "event bus, in-process transport (PostgreSQL)",
            [
                ("events published", f"{args.events} ({args.aggregates} aggregates)"),
                ("publish", f"{results['publish_events_per_s']:.0f} events/s"),
                (
                    "drain, one relay",
                    f"{results['drain_one_relay_deliveries_per_s']:.0f} deliveries/s",
                ),
                (
                    "drain, two relays",
                    f"{results['drain_two_relays_deliveries_per_s']:.0f} deliveries/s",
                ),
                (
                    "publish + drain (one relay)",
                    f"{results['publish_and_drain_deliveries_per_s']:.0f} deliveries/s",
                ),
                ("plain psycopg floor", f"{results['floor_deliveries_per_s']:.0f} deliveries/s"),
                ("ratio to floor, one relay", f"{results['ratio_to_floor']:.2f}"),
                ("ratio to floor, two relays", f"{results['ratio_to_floor_two_relays']:.2f}"),
                (f"latency at {args.rate:.0f}/s p50", f"{results['latency_ms_p50']:.1f} ms"),
                (f"latency at {args.rate:.0f}/s p99", f"{results['latency_ms_p99']:.1f} ms"),
            ],
        )
    if args.transport in ("both", "kafka"):
        results.update(run_kafka(env, args))
        print_table(
            "event bus, kafka transport (PostgreSQL, librdkafka mock cluster of 3 brokers)",
            [
                ("publish", f"{results['kafka_publish_events_per_s']:.0f} events/s"),
                (
                    "produce (one relay)",
                    f"{results['kafka_produce_events_per_s']:.0f} events/s",
                ),
                (
                    "consume (one consumer process)",
                    f"{results['kafka_consume_deliveries_per_s']:.0f} deliveries/s",
                ),
                (
                    "relay -> consumer, end to end",
                    f"{results['kafka_end_to_end_deliveries_per_s']:.0f} deliveries/s",
                ),
                (
                    f"latency at {args.rate:.0f}/s p50",
                    f"{results['kafka_latency_ms_p50']:.1f} ms",
                ),
                (
                    f"latency at {args.rate:.0f}/s p99",
                    f"{results['kafka_latency_ms_p99']:.1f} ms",
                ),
            ],
        )
    print_table("in-process | kafka", side_by_side(results, args.rate))
    print(f"\nwrote {write_results('bus', results)}")


if __name__ == "__main__":
    main()
