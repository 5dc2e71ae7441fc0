"""Small database helpers the apps share."""

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import AutoField, Model


def insert_unless_exists(obj: Model, *, unique_fields: Sequence[str]) -> bool:
    """INSERT ``obj`` unless a row with the same ``unique_fields`` exists; whether it did.

    One ``INSERT ... ON CONFLICT (...) DO NOTHING RETURNING`` statement: no look first, and no
    savepoint to catch the IntegrityError of a duplicate, so it keeps the caller's transaction
    usable and costs one round trip instead of four. ``unique_fields`` must be the fields of
    a unique constraint (or a unique field) of the model; a conflict on any other constraint
    still raises. Defaults and ``auto_now_add`` fill in as ``save()`` would; an auto primary
    key is set on ``obj`` when the row is inserted.
    """
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not isinstance(f, AutoField)]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    columns = ", ".join(_column(f) for f in fields)
    conflict = ", ".join(_column(meta.get_field(name)) for name in unique_fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {_column(meta.pk)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    if isinstance(meta.pk, AutoField):
        obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


def _column(field: Any) -> str:
    return str(connection.ops.quote_name(field.column))
