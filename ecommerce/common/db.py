"""Small database helpers the apps share."""

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.db import DatabaseError, connection, transaction
from django.db.models import AutoField, Field, Model, QuerySet
from django.db.models.base import DEFERRED

M = TypeVar("M", bound=Model)
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

_all_or_nothing: ContextVar[bool] = ContextVar("all_or_nothing", default=False)


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """A transaction that any error inside rolls back whole: ``transaction.atomic()`` in
    which the ``transactional`` use cases take no savepoints of their own.

    For callers that never go on after an error: the relay's delivery transactions and an
    idempotent request's. A savepoint costs two round trips, and there its rollback would
    only ever be followed by the whole transaction's. Code inside that does catch a use
    case's error and go on must call it inside a ``transaction.atomic()`` block of its own,
    which brings the savepoint back.
    """
    with transaction.atomic():
        outer = _all_or_nothing.set(True)
        try:
            yield
        finally:
            _all_or_nothing.reset(outer)


def transactional(func: Callable[P, R]) -> Callable[P, R]:
    """Run the use case in a transaction: its own, or within the caller's. As
    ``transaction.atomic``, except that inside ``all_or_nothing`` it takes no savepoint, so
    an error it raises spoils the caller's whole transaction."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with transaction.atomic(savepoint=not _all_or_nothing.get()):
            return func(*args, **kwargs)

    return wrapper


def insert_row(obj: Model) -> None:
    """INSERT ``obj``, like ``obj.save()`` of a new object (or ``Model.objects.create``).

    One hand-written ``INSERT ... RETURNING`` statement: for the rows every order writes (a
    payment's log, say) the ORM building the insert cost about three times running it.
    Defaults and ``auto_now_add`` fill in as ``save()`` would; an auto primary key is set on
    ``obj``. Sends no model signals (the shop connects none).
    """
    _insert(obj, "")


def insert_unless_exists(obj: Model, *, unique_fields: Sequence[str]) -> bool:
    """INSERT ``obj`` unless a row with the same ``unique_fields`` exists; whether it did.

    One ``INSERT ... ON CONFLICT (...) DO NOTHING RETURNING`` statement: no look first, and no
    savepoint to catch the IntegrityError of a duplicate, so it keeps the caller's transaction
    usable and costs one round trip instead of four. ``unique_fields`` must be the fields of
    a unique constraint (or a unique field) of the model; a conflict on any other constraint
    still raises. Otherwise as ``insert_row``.
    """
    conflict = ", ".join(_column(_field(type(obj), name)) for name in unique_fields)
    return _insert(obj, f" ON CONFLICT ({conflict}) DO NOTHING")


def _insert(obj: Model, on_conflict: str) -> bool:
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not isinstance(f, AutoField)]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    columns = ", ".join(_column(f) for f in fields)
    sql = (
        f"INSERT INTO {_table(type(obj))} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}){on_conflict} RETURNING {_column(meta.pk)}"
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


def lock_name(name: str) -> None:
    """Hold a lock on ``name`` until the transaction ends, for two transactions that check
    for a row and then write it, with no row to lock yet (``pg_advisory_xact_lock``). A no-op
    on SQLite, where one transaction writes at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def lock_row(model: type[M], **where: Any) -> M | None:
    """The row of ``model`` whose fields equal ``where``, locked until the transaction ends
    (``SELECT ... FOR UPDATE``, where the database has it); ``None`` if there is none.

    ``where`` must name a unique field or a unique set of fields. The same as
    ``model.objects.select_for_update().filter(**where).first()`` without the ORM building the
    query: on the busy paths (a cart at checkout, a reservation on payment) that building cost
    about three times the statement itself. Fields are compared with ``=``: no lookups, no
    relations.
    """
    fields = {name: _field(model, name) for name in where}
    conditions = " AND ".join(f"{_column(field)} = %s" for field in fields.values())
    params = [field.get_db_prep_value(where[name], connection) for name, field in fields.items()]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = f"SELECT * FROM {_table(model)} WHERE {conditions}{lock}"
    return next(iter(fetch_models(model, sql, params)), None)


def fetch_models(model: type[M], sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[M]:
    """Run a hand-written query and load its rows as ``model`` instances, by column name.

    What ``model.objects.raw(sql, params)`` gives (columns of the model become its fields,
    converted from the database as the ORM does; a missing one is deferred; any other column
    becomes an attribute), for about 40% less CPU: the work that depends only on the columns
    is done once per query shape, not once per query. For the reads and ``RETURNING *``
    writes on the busiest paths.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        columns = tuple(column[0] for column in cursor.description)
    if not rows:
        return []
    fields, extra, names = _loading_plan(model, columns, connection.alias)
    loaded = []
    for row in rows:
        values = []
        for index, column, converters in fields:
            if index is None:
                values.append(DEFERRED)
                continue
            value = row[index]
            for convert in converters:
                value = convert(value, column, connection)
            values.append(value)
        obj = model.from_db(connection.alias, names, values)
        for index, name in extra:
            setattr(obj, name, row[index])
        loaded.append(obj)
    return loaded


_Converter = Callable[[Any, Any, Any], Any]
_Plan = tuple[
    list[tuple[int | None, Any, tuple[_Converter, ...]]], list[tuple[int, str]], tuple[str, ...]
]
_PLANS: dict[tuple[type[Model], tuple[str, ...], str], _Plan] = {}


def _loading_plan(model: type[Model], columns: tuple[str, ...], alias: str) -> _Plan:
    """For each concrete field of ``model`` in order: its column's index in the row (``None``:
    not selected), its column expression and its converters; then the other columns, and
    the loaded fields' names."""
    key = (model, columns, alias)
    plan = _PLANS.get(key)
    if plan is None:
        index = {name: i for i, name in enumerate(columns)}
        table, fields = model._meta.db_table, []
        for field in model._meta.concrete_fields:
            column = field.get_col(table)
            converters = connection.ops.get_db_converters(column)
            converters += column.get_db_converters(connection)
            fields.append((index.get(str(field.column)), column, tuple(converters)))
        known = {field.column for field in model._meta.concrete_fields}
        extra = [(i, name) for i, name in enumerate(columns) if name not in known]
        names = tuple(f.attname for f in model._meta.concrete_fields if f.column in index)
        plan = _PLANS[key] = (fields, extra, names)
    return plan


def save_fields(obj: Model, *names: str) -> None:
    """Write these fields of a saved ``obj`` to its row, like ``obj.save(update_fields=names)``.

    One hand-written ``UPDATE ... WHERE pk = ...``: on the busy paths (a cart changed or checked
    out, an idempotent response stored) the ORM building the update cost about three times
    running it. An ``auto_now`` field named here is set to now first, as ``save()`` does.
    Sends no model signals (the shop connects none). Raises ``DatabaseError``, as ``save()``
    does, when the row is not there.
    """
    model = type(obj)
    fields = [_field(model, name) for name in names]
    values = [f.get_db_prep_save(f.pre_save(obj, add=False), connection) for f in fields]
    pk = _field(model, "pk")
    assignments = ", ".join(f"{_column(field)} = %s" for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(model)} SET {assignments} WHERE {_column(pk)} = %s",
            [*values, pk.get_db_prep_value(obj.pk, connection)],
        )
        if cursor.rowcount != 1:
            raise DatabaseError(f"{model.__name__} {obj.pk} is not in the database.")


def update_if(obj: Model, changes: Mapping[str, Any], **where: Any) -> bool:
    """Write ``changes`` to ``obj``'s row if the row also has the values in ``where``
    (``status="pending"``, say); whether it did. Only then are they set on ``obj`` too.

    The same as ``type(obj).objects.filter(pk=obj.pk, **where).update(**changes)`` in one
    hand-written statement, as ``save_fields``: a conditional write is how a task settles a
    payment or an email once. ``auto_now`` fields are not touched unless named, as with
    ``update()``. Fields are compared with ``=``: no lookups, no relations.
    """
    model = type(obj)
    assigned = {_field(model, name): value for name, value in changes.items()}
    matched = {_field(model, name): value for name, value in where.items()}
    assignments = ", ".join(f"{_column(field)} = %s" for field in assigned)
    conditions = " AND ".join(f"{_column(field)} = %s" for field in matched)
    pk = _field(model, "pk")
    params = [
        *(field.get_db_prep_save(value, connection) for field, value in assigned.items()),
        pk.get_db_prep_value(obj.pk, connection),
        *(field.get_db_prep_value(value, connection) for field, value in matched.items()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(model)} SET {assignments} "
            f"WHERE {_column(pk)} = %s{' AND ' if conditions else ''}{conditions}",
            params,
        )
        changed = cursor.rowcount == 1
    if changed:
        for field, value in assigned.items():
            setattr(obj, field.attname, value)
    return changed


def db_value(model: type[Model], field_name: str, value: Any) -> Any:
    """``value`` as a hand-written statement passes it for the model's field: a UUID is a
    uuid on PostgreSQL and 32 hex digits on SQLite, a datetime is adapted, and so on."""
    return _field(model, field_name).get_db_prep_value(value, connection)


def _field(model: type[Model], name: str) -> "Field[Any, Any]":
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


def _table(model: type[Model]) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def _column(field: Any) -> str:
    return str(connection.ops.quote_name(field.column))


# Values one statement binds at most, well under PostgreSQL's limit of 65,535 parameters.
BIND_LIMIT = 10_000


def in_pages(queryset: QuerySet[Any], *fields: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``queryset`` as ``(pk, *fields)``, in primary key order, ``size`` at a time.

    Each page is read after the last one's key, not at an offset: every query and the memory
    stay the same size over a table of any length, and the rows a page left in place (or
    that a filter keeps out) are not read again by the next.
    """
    after = None
    while True:
        page = queryset.order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        rows = list(page.values_list("pk", *fields)[:size])
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def in_batches(values: Sequence[T], size: int = BIND_LIMIT) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``: one statement each, so a long list of ids
    never exceeds what one statement may bind."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
