"""Retrying: the one backoff every retry in the shop uses, one-off task schedules, and
idempotent work tried again when the database connection fails under it."""

import ast
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A terminated connection is replaced at once; a server restarting takes a few seconds.
RECONNECT_WAITS = (0.0, 1.0, 4.0)

# PostgreSQL's errors that the same statements, tried again, may well not meet: the server
# shutting down or starting (57P01-57P03), too many connections, a serialization failure,
# a deadlock, a lock timeout; and every connection exception (class 08).
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03"})


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": between half and all of base * 2^(attempt-1),
    capped at ``cap``. Each wait is at least as long as the one before it could have been."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not security


def schedule_task_once(*, name: str, func: str, args: tuple[str, ...], run_at: datetime) -> None:
    """Run ``func(*args)`` once at ``run_at`` on the django-q2 cluster.

    Created in the caller's transaction, so the retry exists if and only if it commits.
    """
    from django_q.models import Schedule

    Schedule.objects.create(
        name=name,
        func=func,
        args=_as_schedule_args(args),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=run_at,
    )


def stall_cutoffs(
    *, older_than_seconds: float | None, stall_seconds: float, queued_stall_seconds: float
) -> tuple[datetime, datetime]:
    """A stalled-work sweep's two cutoffs: work untouched since the first is stalled, and
    work never started since the second. ``older_than_seconds`` (an operator's) sets both."""
    now = timezone.now()
    if older_than_seconds is not None:
        cutoff = now - timedelta(seconds=older_than_seconds)
        return cutoff, cutoff
    return now - timedelta(seconds=stall_seconds), now - timedelta(seconds=queued_stall_seconds)


def scheduled_for(func: str) -> set[str]:
    """The first argument (whose work it is: a payment's id, an email's) of every schedule of
    ``func`` not run yet, as ``schedule_task_once`` was given it."""
    from django_q.models import Schedule

    found: set[str] = set()
    for args in Schedule.objects.filter(func=func).values_list("args", flat=True):
        value = ast.literal_eval(args) if args else ()
        if first := (value if isinstance(value, tuple) else (value,))[:1]:
            found.add(first[0])
    return found


def cancel_scheduled(func: str, first: str) -> None:
    """Delete the schedules of ``func`` not run yet whose first argument is ``first``."""
    from django.db.models import Q
    from django_q.models import Schedule

    # As _as_schedule_args writes them: "'first'" alone, "'first', ..." with more.
    alone, leading = repr(first), f"{first!r}, "
    Schedule.objects.filter(Q(args=alone) | Q(args__startswith=leading), func=func).delete()


def _as_schedule_args(args: tuple[str, ...]) -> str:
    # How django-q2 reads a schedule's args: a Python literal, a tuple unless there is one.
    return ", ".join(repr(a) for a in args) if len(args) != 1 else repr(args[0])


def is_transient_database_error(exc: BaseException) -> bool:
    """Whether the database failed the work for a reason of the moment (the connection lost,
    the server restarting, a deadlock, a lock timeout), so that the same work, tried again on
    a new connection, may succeed. Not an error every try would meet: a missing table, a
    value too large for an index, a statement timeout, a full disk."""
    if isinstance(exc, InterfaceError):
        return True  # used a connection that is closed
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return "locked" in str(cause)  # "database is locked": another writer held it too long
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        return True  # psycopg has no SQLSTATE when the connection failed or was lost
    return sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES


def again_on_database_error(
    work: Callable[[], T], *, what: str, waits: Sequence[float] = RECONNECT_WAITS
) -> T:
    """Run ``work``; when the database fails under it for a reason of the moment (the
    connection terminated, the server restarting, a deadlock: ``is_transient_database_error``),
    open a new connection and run it again, after each of ``waits`` in turn, then let the
    error go. Any other error goes at once.

    Only for work that is safe to run again from the start, and outside any transaction
    (inside one, the caller's transaction is lost and the error is raised at once): a task
    whose steps each check the state first and whose gateway calls carry one idempotency key.
    Without it, such a task would wait for a stalled sweep, minutes, though the gateway had
    answered in milliseconds.
    """
    for wait in (*waits, None):
        try:
            return work()
        except (OperationalError, InterfaceError) as exc:
            if wait is None or connection.in_atomic_block or not is_transient_database_error(exc):
                raise
            logger.warning("%s: database error (%s); trying again in %.0f s", what, exc, wait)
            connection.close()
            time.sleep(wait)
    raise AssertionError("unreachable: the last try returns or raises")
