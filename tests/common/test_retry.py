"""``again_on_database_error``: idempotent work run again when the database fails under it."""

from collections.abc import Callable

import pytest
from django.db import InterfaceError, OperationalError, transaction

from ecommerce.common.retry import again_on_database_error


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
