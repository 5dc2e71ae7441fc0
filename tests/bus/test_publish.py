"""publish() writes to the outbox in the caller's transaction, and only there."""

from uuid import uuid4

import pytest
from django.db import transaction

from ecommerce.bus import publish
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.publishing import PublishOutsideTransaction
from ecommerce.bus.relay import Relay
from tests.bus.support.events import Deposited, ThingHappened
from tests.bus.support.models import Balance, Effect

pytestmark = pytest.mark.django_db(transaction=True)


def test_publishing_outside_a_transaction_is_an_error() -> None:
    with pytest.raises(PublishOutsideTransaction):
        publish(ThingHappened(thing_id=uuid4()))
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_transaction_publishes_nothing(deferred_bus: None) -> None:
    def use_case_that_fails() -> None:
        with transaction.atomic():
            publish(ThingHappened(thing_id=uuid4()))
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        use_case_that_fails()

    assert Relay().drain() == 0
    assert not OutboxEvent.objects.exists()
    assert not Delivery.objects.exists()
    assert not Effect.objects.exists()


def test_a_committed_event_reaches_each_subscriber_once_right_after_commit() -> None:
    thing = uuid4()
    with transaction.atomic():
        event = publish(ThingHappened(thing_id=thing, n=7))

    # Eager mode: delivered by the time the transaction block returns.
    row = OutboxEvent.objects.get()
    assert (row.event_id, row.event_type, row.aggregate_type, row.aggregate_id, row.sequence) == (
        event.event_id,
        "bus_support.ThingHappened",
        "bus_support",
        str(thing),
        1,
    )
    assert sorted(Delivery.objects.values_list("subscriber", "status")) == [
        ("bus_support.fragile", "delivered"),
        ("bus_support.noop", "delivered"),
        ("bus_support.record", "delivered"),
    ]
    assert sorted(Effect.objects.values_list("subscriber", "n")) == [
        ("bus_support.fragile", 7),
        ("bus_support.record", 7),
    ]
    # Running the relay again changes nothing: the deliveries are recorded.
    assert Relay().drain() == 0
    assert Effect.objects.count() == 2


def test_events_published_by_a_handler_carry_the_correlation_of_their_cause() -> None:
    account = uuid4()
    with transaction.atomic():
        deposit = publish(Deposited(account_id=account, amount="5000.00"))  # type: ignore[arg-type]

    flagged = OutboxEvent.objects.get(event_type="bus_support.LargeDepositFlagged")
    assert flagged.correlation_id == deposit.event_id
    assert flagged.causation_id == deposit.event_id
    assert Balance.objects.get().deposits == 1
    assert Effect.objects.filter(subscriber="bus_support.audit").count() == 1


def test_each_aggregate_numbers_its_events_in_order(deferred_bus: None) -> None:
    a, b = uuid4(), uuid4()
    with transaction.atomic():
        for thing in (a, b, a, a):
            publish(ThingHappened(thing_id=thing))

    assert list(
        OutboxEvent.objects.filter(aggregate_id=str(a))
        .values_list("sequence", flat=True)
        .order_by("id")
    ) == [1, 2, 3]
    assert list(
        OutboxEvent.objects.filter(aggregate_id=str(b)).values_list("sequence", flat=True)
    ) == [1]
