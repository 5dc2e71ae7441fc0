"""Helpers for the tests that prove behaviour under real concurrency on PostgreSQL."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

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
    """End the backend ``pid`` and wait until it has exited (up to 5 s): by then its client's
    socket holds the server's last message and end of file, as after any termination some
    time ago. Without the wait the backend may still be exiting when the next query goes."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    finally:
        other.close()


@contextlib.contextmanager
def connection_cut_before(statement_start: str, *, close: bool = True) -> Iterator[list[str]]:
    """The server ends the connection just before the first statement that starts so is sent
    on it; yields the statements cut. The connection is closed after (``close``), as Django
    does after a request that met a database error and Django's test client does not."""
    cut: list[str] = []

    def cut_once(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if not cut and sql.lstrip().startswith(statement_start):
            cut.append(sql)
            terminate_backend(own_backend_pid())  # the connection of now: it may be a new one
        return execute(sql, *args)

    try:
        with connection.execute_wrapper(cut_once):
            yield cut
    finally:
        if close:
            connection.close()


@contextlib.contextmanager
def answer_lost_after(statement_part: str) -> Iterator[list[str]]:
    """The first statement holding ``statement_part`` is done (committed, in autocommit), then
    the connection is cut before its answer is read: the caller gets the error. Yields the
    statements whose answer was lost."""
    pid, lost = own_backend_pid(), []

    def lose_once(execute: Callable[..., Any], sql: str, params: Any, *args: Any) -> Any:
        result = execute(sql, params, *args)
        if not lost and statement_part in sql:
            lost.append(sql)
            terminate_backend(pid)
            execute("SELECT 1", None, *args)  # raises: the connection is gone
        return result

    with connection.execute_wrapper(lose_once):
        yield lost


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
