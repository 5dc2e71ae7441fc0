"""Shared transactions, retries with backoff, dead letters, per-aggregate order,
undeliverable payloads."""

import contextlib
import re
from datetime import timedelta
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecommerce.bus import relay as relay_module
from ecommerce.bus import subscribe
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.registry import unsubscribe
from ecommerce.bus.relay import Relay
from ecommerce.common.db import transactional
from tests.bus.conftest import due_now
from tests.bus.support.events import ThingHappened
from tests.bus.support.models import Effect, Poison

pytestmark = pytest.mark.django_db(transaction=True)

FRAGILE = "bus_support.fragile"


def fragile_delivery(thing: object) -> Delivery:
    return Delivery.objects.get(subscriber=FRAGILE, aggregate_id=str(thing))


MARK_DELIVERED = re.compile(r"UPDATE \W?bus_delivery\W? +SET \W?status\W? = .?delivered", re.I)


@pytest.mark.parametrize(("per_transaction", "marks"), [(20, 1), (4, 4), (1, 15)])
def test_deliveries_share_transactions_of_the_configured_size(
    publish_committed,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    per_transaction: int,
    marks: int,
) -> None:
    settings.BUS_EAGER = False
    settings.BUS_DELIVERIES_PER_TRANSACTION = per_transaction
    # Only the size splits them here: a slow machine must not reach the time limit.
    monkeypatch.setattr(relay_module, "SHARED_TRANSACTION_SECONDS", 60.0)
    publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(5)))

    with CaptureQueriesContext(connection) as queries:
        Relay().drain()

    statements = [q["sql"] for q in queries.captured_queries]
    assert sum(1 for sql in statements if MARK_DELIVERED.search(sql)) == marks
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert Effect.objects.count() == 10  # record and fragile, five events each


def test_a_shared_transaction_that_runs_long_commits_what_it_has_and_goes_on(
    publish_committed,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.BUS_EAGER = False
    monkeypatch.setattr(relay_module, "SHARED_TRANSACTION_SECONDS", 0.0)  # every one is long
    publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(5)))

    with CaptureQueriesContext(connection) as queries:
        Relay().drain()

    statements = [q["sql"] for q in queries.captured_queries]
    # Each transaction delivers one and hands the rest back to the next: 15 marks.
    assert sum(1 for sql in statements if MARK_DELIVERED.search(sql)) == 15
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert Delivery.objects.filter(lease_token__isnull=False).count() == 0
    effects = Effect.objects.values_list("subscriber", "event_id")
    assert len(effects) == 10
    assert len(set(effects)) == 10


@pytest.mark.parametrize("robust", [True, False])
def test_a_failing_after_commit_callback_does_not_undo_or_redo_a_shared_delivery(
    publish_committed,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
    robust: bool,
) -> None:
    settings.BUS_EAGER = False
    handled: list[int] = []
    queued: list[int] = []

    def enqueue(event: ThingHappened) -> None:
        handled.append(event.n)

        def queue_task() -> None:
            if event.n == 0:
                raise ConnectionError("broker hiccup")
            queued.append(event.n)

        transaction.on_commit(queue_task, robust=robust)

    subscribe(ThingHappened, enqueue, name="bus_support.enqueue")
    try:
        publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(4)))
        Relay().drain()
    finally:
        unsubscribe("bus_support.enqueue")

    assert sorted(handled) == [0, 1, 2, 3]  # each handler ran once: no one-by-one re-run
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    if robust:
        assert sorted(queued) == [1, 2, 3]  # the others' after-commit work still ran
    else:
        # Django stops at a callback that raises without robust=True, which is why the
        # apps' callbacks must be robust (tests/test_architecture.py). The relay says so.
        assert "after-commit callback" in caplog.text


def test_a_failing_handler_rolls_back_only_its_own_delivery_out_of_a_shared_transaction(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
) -> None:
    things = [uuid4() for _ in range(4)]
    Poison.objects.create(aggregate_id=str(things[2]))
    publish_committed(*(ThingHappened(thing_id=t, n=i) for i, t in enumerate(things)))

    relay.drain()

    assert Effect.objects.filter(subscriber="bus_support.record").count() == 4
    assert sorted(Effect.objects.filter(subscriber=FRAGILE).values_list("n", flat=True)) == [
        0,
        1,
        3,
    ]
    poisoned = fragile_delivery(things[2])
    assert (poisoned.status, poisoned.attempts) == ("pending", 1)
    assert "poisoned" in poisoned.last_error
    assert Delivery.objects.filter(status="delivered").count() == 11


def test_a_failing_handler_backs_off_then_goes_dead_while_everything_else_carries_on(
    relay: Relay,
    publish_committed,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.BUS_MAX_ATTEMPTS = 4
    relay = Relay()
    poisoned, healthy = uuid4(), uuid4()
    Poison.objects.create(aggregate_id=str(poisoned))
    publish_committed(ThingHappened(thing_id=poisoned, n=1), ThingHappened(thing_id=healthy, n=2))

    delays = []
    for attempt in range(1, 5):
        before = timezone.now()
        relay.drain()
        delivery = fragile_delivery(poisoned)
        assert delivery.attempts == attempt
        if attempt < 4:
            assert delivery.status == "pending"
            delays.append((delivery.next_attempt_at - before).total_seconds())
            due_now(subscriber=FRAGILE)

    assert delivery.status == "dead"
    assert "thing" in delivery.last_error
    assert "is poisoned" in delivery.last_error
    # Equal jitter: the n-th wait lies in [base * 2^(n-2), base * 2^(n-1)], so waits grow.
    assert 0.5 <= delays[0] <= 1.1
    assert 1.0 <= delays[1] <= 2.1
    assert 2.0 <= delays[2] <= 4.1
    assert delays == sorted(delays)
    # Other subscribers got the poisoned event; other aggregates reached the fragile one.
    assert set(Effect.objects.values_list("subscriber", "n")) == {
        ("bus_support.record", 1),
        ("bus_support.record", 2),
        (FRAGILE, 2),
    }


def test_a_dead_event_blocks_only_its_own_aggregate_for_its_own_subscriber(
    relay: Relay,
    publish_committed,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.BUS_MAX_ATTEMPTS = 1
    relay = Relay()
    thing, other = uuid4(), uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing, n=1))
    relay.drain()
    publish_committed(ThingHappened(thing_id=thing, n=2), ThingHappened(thing_id=other, n=3))

    relay.drain()

    assert list(Effect.objects.filter(subscriber=FRAGILE).values_list("n", flat=True)) == [3]
    second = Delivery.objects.get(subscriber=FRAGILE, event__sequence=2, aggregate_id=str(thing))
    assert (second.status, second.attempts) == ("pending", 0)  # waiting its turn, not failing

    # The handler is fixed; the operator retries the dead letter: both arrive, in order.
    Poison.objects.all().delete()
    call_command("dead_letters", "retry", "--subscriber", FRAGILE)
    relay.drain()

    fragile_effects = Effect.objects.filter(subscriber=FRAGILE, aggregate_id=str(thing))
    assert list(fragile_effects.order_by("id").values_list("n", flat=True)) == [1, 2]
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_one_aggregates_events_arrive_in_order_across_retries(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
) -> None:
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(*(ThingHappened(thing_id=thing, n=i) for i in range(1, 6)))
    relay.drain()
    assert not Effect.objects.filter(subscriber=FRAGILE).exists()

    Poison.objects.all().delete()
    due_now()
    relay.drain()

    ns = Effect.objects.filter(subscriber=FRAGILE).order_by("id").values_list("n", flat=True)
    assert list(ns) == [1, 2, 3, 4, 5]


def test_a_payload_that_no_longer_decodes_goes_dead_and_the_relay_keeps_going(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
) -> None:
    broken, fine = uuid4(), uuid4()
    publish_committed(ThingHappened(thing_id=broken), ThingHappened(thing_id=fine, n=9))
    OutboxEvent.objects.filter(aggregate_id=str(broken)).update(payload={"thing_id": "garbage"})

    relay.drain()

    dead = Delivery.objects.filter(aggregate_id=str(broken))
    assert set(dead.values_list("status", flat=True)) == {"dead"}
    assert all("undeliverable" in d.last_error and "garbage" in d.last_error for d in dead)
    assert dead.first().attempts == 1  # no retries: it can never succeed  # type: ignore[union-attr]
    assert Effect.objects.filter(aggregate_id=str(fine)).count() == 2


def test_a_delivery_for_a_subscriber_this_relay_does_not_know_is_retried_then_goes_dead(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
) -> None:
    # A relay whose code is older than the publisher's (a rolling deploy) or a subscriber
    # renamed since: another relay may know it, so it is not dead at the first try.
    settings.BUS_MAX_ATTEMPTS = 2
    publish_committed(ThingHappened(thing_id=uuid4()))
    Delivery.objects.filter(subscriber="bus_support.noop").update(subscriber="bus_support.renamed")

    relay.drain()

    orphan = Delivery.objects.get(subscriber="bus_support.renamed")
    assert (orphan.status, orphan.attempts) == ("pending", 1)
    assert orphan.next_attempt_at > timezone.now()
    assert "unknown subscriber" in orphan.last_error

    Delivery.objects.filter(pk=orphan.pk).update(next_attempt_at=timezone.now())
    Relay().drain()

    orphan.refresh_from_db()
    assert (orphan.status, orphan.attempts) == ("dead", 2)
    assert "unknown subscriber" in orphan.last_error


def test_a_lease_that_ran_out_is_claimed_again(relay: Relay, publish_committed) -> None:  # type: ignore[no-untyped-def]
    publish_committed(ThingHappened(thing_id=uuid4(), n=4))
    # A relay claimed the batch and died: the lease is there, nothing was delivered.
    claimed = relay.claim()
    assert len(claimed) == 3
    assert relay.claim() == []  # leased: nobody else takes them

    Delivery.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    relay.drain()

    assert Effect.objects.count() == 2
    assert set(Delivery.objects.values_list("status", "attempts")) == {("delivered", 2)}
    # The first relay coming back late cannot deliver again: its lease token is gone.
    relay.deliver(claimed)
    assert Effect.objects.count() == 2


def test_a_lease_is_held_only_on_a_pending_delivery(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
) -> None:
    """The shared "delivered" mark trusts the lease token alone; the database holds every
    other write to that rule."""
    publish_committed(ThingHappened(thing_id=uuid4()))
    delivery = Delivery.objects.filter(subscriber=FRAGILE)

    with pytest.raises(IntegrityError), transaction.atomic():
        delivery.update(status="dead", lease_token=uuid4())
    with pytest.raises(IntegrityError), transaction.atomic():
        delivery.update(status="delivered", lease_token=uuid4())
    delivery.update(lease_token=uuid4())  # pending and leased: fine
    assert delivery.get().status == "pending"


class Refused(Exception):
    pass


@transactional
def refuse(event: ThingHappened) -> None:
    Effect.objects.create(subscriber="bus_support.swallow", event_id=event.event_id, n=event.n)
    raise Refused()


def test_a_handler_that_swallows_a_use_case_error_fails_instead_of_being_undone_silently(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
) -> None:
    """Inside the relay's transactions use cases take no savepoints, so a handler that catches
    one's error and returns leaves a transaction that can only roll back. Without a check its
    delivery would look delivered while its mark rolled back, and run again for ever."""

    def swallow(event: ThingHappened) -> None:
        with contextlib.suppress(Refused):
            refuse(event)

    subscribe(ThingHappened, swallow, name="bus_support.swallow")
    try:
        publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(3)))
        relay.drain()
    finally:
        unsubscribe("bus_support.swallow")

    swallowed = Delivery.objects.filter(subscriber="bus_support.swallow")
    assert [(d.status, d.attempts) for d in swallowed] == [("pending", 1)] * 3
    assert all("HandlerSpoiledTransaction" in d.last_error for d in swallowed)
    assert not Effect.objects.filter(subscriber="bus_support.swallow").exists()
    # The other subscribers of the same events, in the same shared transactions, were delivered.
    assert Effect.objects.filter(subscriber="bus_support.record").count() == 3
