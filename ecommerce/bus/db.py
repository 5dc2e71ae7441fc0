"""Running the bus's hot statements."""

from typing import Any

from django.db import connection


def fetch_all(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the default connection and return its rows.

    On PostgreSQL the connection binds on the server and prepares statements it has run a
    few times (settings: DB_PREPARE_THRESHOLD), which matters here: for the bus's statements
    planning costs more than running.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
