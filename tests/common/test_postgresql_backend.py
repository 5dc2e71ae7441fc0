"""The shop's PostgreSQL backend checks a kept connection without a round trip when it can.

A kept connection is checked before the first query of each request or task. It is taken
as healthy without asking the server only while its socket has nothing to read; a
connection the server closed is replaced, and one with data waiting gets ``SELECT 1``.
What the server saw is read from ``pg_stat_activity``, which shows each backend's last
statement.
"""

import select
import time
from collections.abc import Iterator

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from ecommerce.common.postgresql.base import DatabaseWrapper

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def open_connection() -> BaseDatabaseWrapper:
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    wrapper.ensure_connection()
    return wrapper


@pytest.fixture
def kept() -> Iterator[BaseDatabaseWrapper]:
    """A connection of the shop's backend kept open between requests, as a worker keeps it."""
    wrapper = open_connection()
    assert isinstance(wrapper, DatabaseWrapper)
    assert wrapper.health_check_enabled
    yield wrapper
    wrapper.close()


@pytest.fixture
def other() -> Iterator[BaseDatabaseWrapper]:
    """Another session, in autocommit: what it does, the kept connection's server sees at once."""
    wrapper = open_connection()
    yield wrapper
    wrapper.close()


def backend_pid(wrapper: BaseDatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


def last_statement(other: BaseDatabaseWrapper, pid: int) -> str:
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        (query,) = cursor.fetchone()
    return str(query)


def next_request(wrapper: BaseDatabaseWrapper) -> None:
    """What Django does to a kept connection when a request starts and before its first query."""
    wrapper.close_if_unusable_or_obsolete()
    wrapper.close_if_health_check_failed()


def wait_readable(wrapper: BaseDatabaseWrapper) -> None:
    deadline = time.monotonic() + 5
    while not select.select([wrapper.connection.fileno()], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the server never closed the connection"


def test_a_quiet_kept_connection_is_used_without_asking_the_server(
    kept: BaseDatabaseWrapper, other: BaseDatabaseWrapper
) -> None:
    pid = backend_pid(kept)

    next_request(kept)

    assert kept.health_check_done
    assert last_statement(other, pid) == "SELECT pg_backend_pid()"
    assert backend_pid(kept) == pid


def test_a_connection_with_data_waiting_is_checked_with_a_query(
    kept: BaseDatabaseWrapper, other: BaseDatabaseWrapper
) -> None:
    pid = backend_pid(kept)
    with kept.cursor() as cursor:
        cursor.execute("LISTEN shop_backend_test")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_notify('shop_backend_test', '')")
    wait_readable(kept)

    next_request(kept)

    assert last_statement(other, pid) == "SELECT 1"
    assert backend_pid(kept) == pid


def test_a_connection_the_server_closed_is_replaced_before_the_query(
    kept: BaseDatabaseWrapper, other: BaseDatabaseWrapper
) -> None:
    pid = backend_pid(kept)
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_readable(kept)

    next_request(kept)

    assert backend_pid(kept) != pid
