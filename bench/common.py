"""Shared pieces of the benchmarks: a fresh database, child processes, statistics, output."""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def fresh_database(name: str, settings_module: str) -> dict[str, str]:
    """Drop and create ``name``, migrate it, and return the environment for child processes."""
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--run-syncdb", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env)


def mock_kafka_cluster(brokers: int = 3) -> tuple[Any, str]:
    """librdkafka's mock cluster: (the client that keeps it alive, its bootstrap servers)."""
    from confluent_kafka.admin import AdminClient

    owner = AdminClient({"test.mock.num.brokers": brokers, "log_level": 4})
    metadata = owner.list_topics(timeout=10)
    brokers_by_id = sorted(metadata.brokers.values(), key=lambda b: b.id)
    return owner, ",".join(f"{b.host}:{b.port}" for b in brokers_by_id)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2, default=str))
    return path


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}\n" + "-" * (width + 20))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
