"""Indexes added to the tables every order writes to are built without holding off writes."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def test_the_payments_index_is_built_concurrently_and_dropped_so() -> None:
    try:
        with CaptureQueriesContext(connection) as back:
            migrate(("payments", "0009_sweep_indexes"))
        with CaptureQueriesContext(connection) as forward:
            migrate(("payments", "0010_newest_first_index"))
    finally:
        migrate(("payments", "0010_newest_first_index"))

    assert any('DROP INDEX CONCURRENTLY IF EXISTS "payment_newest"' in q["sql"] for q in back)
    assert any('CREATE INDEX CONCURRENTLY "payment_newest"' in q["sql"] for q in forward)
