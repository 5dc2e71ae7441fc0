"""Running the bus's hot statements."""

from typing import Any

from django.db import connection


def fetch_all(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the default connection and return its rows.

    On PostgreSQL it goes through a server-side binding cursor so psycopg can keep it as a
    prepared statement (DB_PREPARE_THRESHOLD): for the bus's statements planning costs more
    than running. Elsewhere it is an ordinary Django cursor.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
