"""``again_on_database_error``: idempotent work run again when the database fails under it."""

import sqlite3
from collections.abc import Callable

import psycopg
import pytest
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from psycopg import errors as pg

from ecommerce.common.retry import again_on_database_error, is_transient_database_error


def failing(times: int, error: Exception) -> tuple[Callable[[], str], list[int]]:
    """Work that raises ``error`` on its first ``times`` runs, then answers; and its runs."""
    runs: list[int] = []

    def work() -> str:
        runs.append(len(runs) + 1)
        if len(runs) <= times:
            raise error
        return "done"

    return work, runs


@pytest.mark.parametrize(
    "error", [OperationalError("server closed the connection"), InterfaceError("closed")]
)
def test_work_the_database_failed_under_is_run_again_until_it_answers(error: Exception) -> None:
    work, runs = failing(2, error)

    assert again_on_database_error(work, what="work", waits=(0, 0, 0)) == "done"
    assert runs == [1, 2, 3]


def test_a_database_still_failing_after_every_wait_lets_the_error_go() -> None:
    work, runs = failing(10, OperationalError("the server is restarting"))

    with pytest.raises(OperationalError, match="restarting"):
        again_on_database_error(work, what="work", waits=(0, 0))
    assert runs == [1, 2, 3]


def test_an_error_that_is_not_the_databases_is_not_run_again() -> None:
    work, runs = failing(1, ValueError("a bug"))

    with pytest.raises(ValueError, match="a bug"):
        again_on_database_error(work, what="work", waits=(0, 0))
    assert runs == [1]


@pytest.mark.django_db
def test_inside_a_transaction_the_error_goes_at_once() -> None:
    # The caller's transaction is lost with the connection: running again would do half.
    work, runs = failing(1, OperationalError("server closed the connection"))

    with pytest.raises(OperationalError), transaction.atomic():
        again_on_database_error(work, what="work", waits=(0, 0))
    assert runs == [1]


def as_django_raises(
    cause: Exception, django_error: type[DatabaseError] = OperationalError
) -> Exception:
    """The error Django raises for a driver's ``cause`` (``raise ... from cause``)."""
    error = django_error(*cause.args)
    error.__cause__ = cause
    return error


def test_an_error_every_try_would_meet_goes_at_once() -> None:
    work, runs = failing(1, as_django_raises(pg.ProgramLimitExceeded("index row too large")))

    with pytest.raises(OperationalError, match="index row"):
        again_on_database_error(work, what="work", waits=(0, 0))
    assert runs == [1]


@pytest.mark.parametrize(
    ("cause", "transient"),
    [
        # Errors of the moment: tried again, the work may succeed.
        (psycopg.OperationalError("consuming input failed: server closed the connection"), True),
        (pg.AdminShutdown("terminating connection due to administrator command"), True),
        (pg.CannotConnectNow("the database system is starting up"), True),
        (pg.TooManyConnections("sorry, too many clients already"), True),
        (pg.ConnectionFailure("connection failure"), True),
        (pg.DeadlockDetected("deadlock detected"), True),
        (pg.SerializationFailure("could not serialize access"), True),
        (pg.LockNotAvailable("canceling statement due to lock timeout"), True),
        (sqlite3.OperationalError("database is locked"), True),
        # Errors every try would meet.
        (pg.ProgramLimitExceeded("index row size exceeds maximum"), False),
        (pg.QueryCanceled("canceling statement due to statement timeout"), False),
        (pg.DiskFull("could not extend file"), False),
        (sqlite3.OperationalError("no such table: shop_thing"), False),
    ],
    ids=lambda value: (
        f"{type(value).__name__}: {value}"
        if isinstance(value, Exception)
        else ("transient" if value else "not")
    ),
)
def test_an_operational_error_is_transient_only_for_a_reason_of_the_moment(
    cause: Exception, transient: bool
) -> None:
    assert is_transient_database_error(as_django_raises(cause)) is transient


def test_a_closed_connection_is_transient_and_a_broken_constraint_is_not() -> None:
    assert is_transient_database_error(InterfaceError("connection already closed"))
    assert not is_transient_database_error(
        as_django_raises(pg.UniqueViolation("duplicate key"), IntegrityError)
    )


@pytest.mark.django_db
def test_a_query_of_a_missing_table_is_not_transient() -> None:
    # SQLite says OperationalError, PostgreSQL ProgrammingError: neither is tried again.
    with pytest.raises(DatabaseError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM shop_no_such_table")

    assert not is_transient_database_error(raised.value)
