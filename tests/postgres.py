"""Helpers for the tests that prove behaviour under real concurrency on PostgreSQL."""

import threading
import time
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction


def terminate_own_connection() -> None:
    """The server ends this process's database connection (``pg_terminate_backend``, as a
    failover or an operator would); its next query fails."""
    terminate_backend(own_backend_pid())


def own_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()  # type: ignore[misc]
    return int(pid)


def terminate_backend(pid: int) -> None:
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def a_backend_waits_for_a_lock() -> bool:
    """Whether some connection to the test database is waiting for a lock (a row, a unique
    index entry, a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])  # type: ignore[index]


def first_commits_late(first: Callable[[], object], second: Callable[[], object]) -> object:
    """Run ``first`` in a transaction kept open until ``second``, started after it, waits on
    a lock ``first`` holds; then commit it. Returns ``second``'s result (or its exception),
    each on its own connection."""
    written, release = threading.Event(), threading.Event()
    outcome: list[object] = []
    failed: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                first()
                written.set()
                release.wait(10)
        except BaseException as exc:
            failed.append(exc)
            written.set()
        finally:
            connection.close()

    def race() -> None:
        written.wait(10)
        try:
            outcome.append(second())
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold), threading.Thread(target=race)]
    for t in threads:
        t.start()
    written.wait(10)
    deadline = time.monotonic() + 10
    while not failed and not a_backend_waits_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join()
    assert not failed, failed
    return outcome[0]
