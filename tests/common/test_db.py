"""The shared statements of ecommerce.common.db, each one hand-written statement:

- insert_row: one INSERT, as create();
- insert_unless_exists: one INSERT that skips a duplicate and leaves the transaction usable;
- lock_row: a row by unique fields, locked until the transaction ends;
- fetch_models: a hand-written query's rows as model instances, as raw() loads them;
- save_fields: the named fields of a saved object written to its row;
- update_if: a conditional write of a row, reflected on the object only if it happened;
- transactional and all_or_nothing: a use case's savepoint, taken only where it is any use.
"""

import contextlib
import threading
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.payments.models import FakeGatewayRequest, Payment, PaymentEvent
from ecommerce.common.db import (
    all_or_nothing,
    fetch_models,
    insert_row,
    insert_unless_exists,
    lock_row,
    save_fields,
    transactional,
    update_if,
)

pytestmark = pytest.mark.django_db


def gateway_request(key: str, calls: int = 1) -> FakeGatewayRequest:
    return FakeGatewayRequest(
        idempotency_key=key,
        operation=FakeGatewayRequest.Operation.CHARGE,
        payment_id=uuid4(),
        amount=Decimal("9.99"),
        currency="EUR",
        calls=calls,
    )


def payment(*, cart_id: object, idempotency_key: str) -> Payment:
    return Payment(
        cart_id=cart_id,
        email="shopper@example.com",
        amount=Decimal("9.99"),
        currency="EUR",
        gateway="fake",
        payment_token="tok_ok",
        idempotency_key=idempotency_key,
    )


def test_insert_row_writes_the_row_as_create_does() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    entry = PaymentEvent(payment_id=stored.pk, kind=PaymentEvent.Kind.CREATED, detail={"a": "1"})

    insert_row(entry)

    row = PaymentEvent.objects.get()
    assert (entry.pk, entry._state.adding) == (row.pk, False)
    assert (row.payment_id, row.kind, row.detail) == (stored.pk, "created", {"a": "1"})
    assert row.gateway_event_id is None
    assert row.created_at == entry.created_at is not None


def test_insert_row_raises_on_a_unique_conflict() -> None:
    insert_row(gateway_request("key-1"))

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(gateway_request("key-1"))


def test_a_new_row_is_inserted_with_its_auto_primary_key_and_defaults() -> None:
    request = gateway_request("key-1")

    assert insert_unless_exists(request, unique_fields=["idempotency_key"]) is True

    stored = FakeGatewayRequest.objects.get(idempotency_key="key-1")
    assert request.pk == stored.pk
    assert request._state.adding is False
    assert stored.calls == 1
    assert stored.outcome == FakeGatewayRequest.Outcome.PENDING
    assert stored.created_at is not None
    assert stored.created_at == request.created_at


def test_a_duplicate_is_skipped_and_the_first_row_stays_as_it_was() -> None:
    assert insert_unless_exists(gateway_request("key-1"), unique_fields=["idempotency_key"])
    second = gateway_request("key-1", calls=7)

    with transaction.atomic():
        assert insert_unless_exists(second, unique_fields=["idempotency_key"]) is False
        # No error was raised inside the transaction, so it goes on without a savepoint.
        assert FakeGatewayRequest.objects.count() == 1

    assert second.pk is None
    assert second._state.adding is True
    assert FakeGatewayRequest.objects.get().calls == 1


def test_a_client_side_primary_key_is_kept() -> None:
    new = payment(cart_id=uuid4(), idempotency_key="charge:1")
    chosen = new.pk

    assert insert_unless_exists(new, unique_fields=["cart_id"]) is True

    assert Payment.objects.get(cart_id=new.cart_id).pk == chosen == new.pk


def test_a_conflict_on_another_unique_constraint_still_raises() -> None:
    assert insert_unless_exists(
        payment(cart_id=uuid4(), idempotency_key="charge:1"), unique_fields=["cart_id"]
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_unless_exists(
            payment(cart_id=uuid4(), idempotency_key="charge:1"), unique_fields=["cart_id"]
        )

    assert Payment.objects.count() == 1


# -- lock_row ----------------------------------------------------------------------------------


def test_lock_row_finds_a_row_by_its_primary_key_or_by_unique_fields() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()

    by_pk = lock_row(Payment, pk=stored.pk)
    by_cart = lock_row(Payment, cart_id=stored.cart_id)
    by_two = lock_row(Payment, cart_id=stored.cart_id, idempotency_key="charge:1")

    assert by_pk is not None
    assert by_cart is not None
    assert by_two is not None
    assert by_pk.pk == by_cart.pk == by_two.pk == stored.pk
    assert by_pk.amount == Decimal("9.99")
    assert by_pk.created_at == stored.created_at
    assert by_pk._state.adding is False


def test_lock_row_is_none_when_nothing_matches() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()

    assert lock_row(Payment, pk=uuid4()) is None
    assert lock_row(Payment, cart_id=stored.cart_id, idempotency_key="charge:2") is None


def test_lock_row_refuses_what_is_not_a_column() -> None:
    with pytest.raises(FieldDoesNotExist):
        lock_row(Payment, nothing_here=1)
    with pytest.raises(TypeError, match="not a column"):
        lock_row(Payment, events=1)  # the reverse side of the event log's foreign key


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lock_row_holds_the_row_until_the_transaction_ends() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    seen: list[str] = []

    def other_transaction() -> None:
        try:
            with transaction.atomic():
                Payment.objects.select_for_update(nowait=True).get(pk=stored.pk)
            seen.append("got the row")
        except DatabaseError:
            seen.append("locked")
        finally:
            connection.close()

    with transaction.atomic():
        assert lock_row(Payment, pk=stored.pk) is not None
        while_held = threading.Thread(target=other_transaction)
        while_held.start()
        while_held.join()
    after = threading.Thread(target=other_transaction)
    after.start()
    after.join()

    assert seen == ["locked", "got the row"]


# -- save_fields -------------------------------------------------------------------------------


def test_save_fields_writes_only_the_fields_it_names() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    stored.status = Payment.Status.FAILED
    stored.failure_code = "card_declined"
    stored.email = "not-written@example.com"

    save_fields(stored, "status", "failure_code")

    row = Payment.objects.get(pk=stored.pk)
    assert (row.status, row.failure_code) == (Payment.Status.FAILED, "card_declined")
    assert row.email == "shopper@example.com"


def test_save_fields_sets_an_auto_now_field_it_names_as_save_does() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    before = timezone.now()
    Payment.objects.filter(pk=stored.pk).update(updated_at=before - timedelta(days=1))

    save_fields(stored, "updated_at")

    assert stored.updated_at >= before
    assert Payment.objects.get(pk=stored.pk).updated_at == stored.updated_at


def test_save_fields_of_a_row_that_is_gone_raises() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    Payment.objects.filter(pk=stored.pk).delete()
    stored.status = Payment.Status.FAILED

    with pytest.raises(DatabaseError, match="not in the database"):
        save_fields(stored, "status")


# -- fetch_models ------------------------------------------------------------------------------


def test_fetch_models_loads_what_raw_loads_whatever_the_column_order() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    insert_row(PaymentEvent(payment_id=stored.pk, kind="created", detail={"amount": "9.99"}))
    columns = ", ".join(reversed([f.column for f in PaymentEvent._meta.concrete_fields]))
    sql = f"SELECT {columns} FROM payments_paymentevent"

    [loaded] = fetch_models(PaymentEvent, sql, [])
    [expected] = PaymentEvent.objects.raw(sql, [])

    for field in PaymentEvent._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded.detail == {"amount": "9.99"}  # JSON decoded
    assert loaded.payment.amount == Decimal("9.99")  # a relation loads as on any instance
    assert loaded._state.adding is False


def test_fetch_models_converts_values_the_database_returns_raw() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()

    [loaded] = fetch_models(
        Payment, "SELECT * FROM payments_payment WHERE id = %s", [stored.pk.hex]
    )

    assert (loaded.id, loaded.cart_id) == (stored.id, stored.cart_id)  # UUIDs, on SQLite too
    assert loaded.amount == Decimal("9.99")
    assert isinstance(loaded.amount, Decimal)
    assert loaded.created_at == stored.created_at


def test_fetch_models_defers_a_field_not_selected_and_keeps_other_columns() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    sql = "SELECT id, status, 'extra' AS note FROM payments_payment"

    [loaded] = fetch_models(Payment, sql.replace("id,", "id, idempotency_key,"), [])
    [partial] = fetch_models(Payment, sql, [])

    assert (loaded.status, loaded.idempotency_key, loaded.note) == ("pending", "charge:1", "extra")
    assert partial.get_deferred_fields() >= {"email", "idempotency_key"}
    assert partial.email == "shopper@example.com"  # loaded on access, as a deferred field is


def test_fetch_models_of_no_rows_is_empty() -> None:
    assert fetch_models(Payment, "SELECT * FROM payments_payment", []) == []


# -- update_if ---------------------------------------------------------------------------------


def test_update_if_writes_a_row_that_matches_and_sets_the_object() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    changes = {"status": Payment.Status.SUCCEEDED, "gateway_reference": "ch_1"}

    assert update_if(stored, changes, status=Payment.Status.PENDING) is True

    row = Payment.objects.get(pk=stored.pk)
    assert (row.status, row.gateway_reference) == ("succeeded", "ch_1")
    assert (stored.status, stored.gateway_reference) == ("succeeded", "ch_1")


def test_update_if_leaves_a_row_that_does_not_match_and_the_object_as_they_were() -> None:
    stored = payment(cart_id=uuid4(), idempotency_key="charge:1")
    stored.save()
    Payment.objects.filter(pk=stored.pk).update(status="failed", failure_code="card_declined")
    changes = {"status": Payment.Status.SUCCEEDED, "gateway_reference": "ch_1"}

    assert update_if(stored, changes, status=Payment.Status.PENDING) is False

    row = Payment.objects.get(pk=stored.pk)
    assert (row.status, row.gateway_reference) == ("failed", "")
    assert (stored.status, stored.gateway_reference) == ("pending", "")


def test_update_if_without_a_condition_writes_by_primary_key_alone() -> None:
    first, second = (payment(cart_id=uuid4(), idempotency_key=f"charge:{n}") for n in (1, 2))
    first.save()
    second.save()

    assert update_if(first, {"failure_code": "card_declined"}) is True

    codes = dict(Payment.objects.values_list("idempotency_key", "failure_code"))
    assert codes == {"charge:1": "card_declined", "charge:2": ""}


# -- transactional and all_or_nothing -----------------------------------------------------------


class Refused(Exception):
    pass


@transactional
def record_then_refuse(key: str) -> None:
    """A use case that writes, then raises."""
    gateway_request(key).save()
    raise Refused()


def savepoints(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()]


def test_a_transactional_use_case_in_a_plain_transaction_rolls_back_only_its_own_writes() -> None:
    with transaction.atomic():
        gateway_request("before").save()
        with pytest.raises(Refused):
            record_then_refuse("inside")
        gateway_request("after").save()  # the caller's transaction goes on

    keys = set(FakeGatewayRequest.objects.values_list("idempotency_key", flat=True))
    assert keys == {"before", "after"}


def test_inside_all_or_nothing_a_use_case_takes_no_savepoint_and_its_error_spoils_it() -> None:
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        outer_savepoints = len(savepoints(queries))
        with all_or_nothing():
            gateway_request("before").save()
            with contextlib.suppress(Refused):
                record_then_refuse("inside")
            # Going on after the error is refused: the transaction can only roll back.
            with pytest.raises(TransactionManagementError):
                gateway_request("after").save()
        inside = savepoints(queries)[outer_savepoints:]

    # The test's own transaction makes all_or_nothing a savepoint; the use case took none.
    assert [sql.split()[0].upper() for sql in inside] == ["SAVEPOINT", "ROLLBACK", "RELEASE"]
    assert len({sql.split()[-1] for sql in inside}) == 1
    assert not FakeGatewayRequest.objects.exists()


def test_a_block_of_its_own_inside_all_or_nothing_brings_the_savepoint_back() -> None:
    with transaction.atomic(), all_or_nothing():
        gateway_request("before").save()
        with pytest.raises(Refused), transaction.atomic():
            record_then_refuse("inside")
        gateway_request("after").save()

    keys = set(FakeGatewayRequest.objects.values_list("idempotency_key", flat=True))
    assert keys == {"before", "after"}


def test_all_or_nothing_ends_with_its_block() -> None:
    with transaction.atomic():
        with all_or_nothing():
            pass
        with pytest.raises(Refused):
            record_then_refuse("inside")
        gateway_request("after").save()

    assert list(FakeGatewayRequest.objects.values_list("idempotency_key", flat=True)) == ["after"]
