"""A handler that kills the relay process (out of memory, a segfault) runs up attempts on its
own delivery only: the deliveries claimed in the same batch are not charged for its crashes,
never go dead for it, and are delivered once each."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from django.utils import timezone

from ecommerce.bus import Event, subscribe
from ecommerce.bus.models import Delivery
from ecommerce.bus.operations import requeue_expired_leases
from ecommerce.bus.registry import unsubscribe
from ecommerce.bus.relay import Relay
from tests import processes
from tests.bus.support.events import ThingHappened
from tests.bus.support.models import Effect

pytestmark = pytest.mark.django_db(transaction=True)

CULPRIT = "bus_support.crashy"
Publish = Callable[..., list[Event]]


class RelayKilled(BaseException):
    """A handler killing the process, in-process: the relay catches ``Exception``, never this,
    so the pass ends with the handler's transaction rolled back and the leases in hand left to
    run out, as a dead process leaves them."""


@pytest.fixture
def poison(deferred_bus: None) -> Iterator[UUID]:
    """The thing whose event kills the relay in the ``bus_support.crashy`` handler (its other
    events it records, like the support handlers)."""
    thing = uuid4()

    def crashy(event: ThingHappened) -> None:
        if event.thing_id == thing:
            raise RelayKilled
        Effect.objects.create(
            subscriber=CULPRIT, event_id=event.event_id, aggregate_id=str(event.thing_id)
        )

    subscribe(ThingHappened, crashy, name=CULPRIT)
    yield thing
    unsubscribe(CULPRIT)


def culprit(thing: UUID) -> Delivery:
    return Delivery.objects.get(subscriber=CULPRIT, aggregate_id=str(thing))


def innocents(thing: UUID) -> list[Delivery]:
    return list(Delivery.objects.exclude(subscriber=CULPRIT, aggregate_id=str(thing)))


def leases_run_out() -> None:
    """Time passes after the relay died: its leases are over."""
    Delivery.objects.filter(status="pending", leased_until__isnull=False).update(
        leased_until=timezone.now() - timedelta(seconds=1)
    )


def crash_a_relay() -> None:
    """A relay process starts, dies in the culprit's handler, and its leases run out."""
    with pytest.raises(RelayKilled):
        Relay().drain()
    leases_run_out()


def assert_effects_once(expected: int) -> None:
    effects = list(Effect.objects.values_list("subscriber", "event_id"))
    assert len(effects) == len(set(effects)) == expected


def publish_batch(publish_committed: Publish, thing: UUID, others: int) -> None:
    """The culprit's event first, so its delivery is early in the batch, then the others."""
    publish_committed(
        ThingHappened(thing_id=thing),
        *(ThingHappened(thing_id=uuid4(), n=i) for i in range(1, others + 1)),
    )


# With one attempt allowed, the culprit is tried alone once more: its first attempt was
# counted at claim, for a shared pass that may have died before reaching it.
@pytest.mark.parametrize(("max_attempts", "crashes_to_dead"), [(4, 4), (1, 2)])
def test_a_delivery_that_kills_the_relay_goes_dead_alone_and_its_batch_is_delivered_once(
    poison: UUID,
    publish_committed: Publish,
    settings,  # type: ignore[no-untyped-def]
    max_attempts: int,
    crashes_to_dead: int,
) -> None:
    settings.BUS_MAX_ATTEMPTS = max_attempts
    publish_batch(publish_committed, poison, others=5)
    # Six events for four subscribers (record, fragile, noop, crashy): one batch of 24.
    assert Delivery.objects.count() == 24

    for crashes in range(1, crashes_to_dead):
        crash_a_relay()
        assert (culprit(poison).status, culprit(poison).attempts) == ("pending", crashes)
        # The first crash, in a shared transaction, cost each of them one attempt; from then
        # on each is charged for its own try only.
        assert {(d.status, d.attempts) for d in innocents(poison)} <= {
            ("pending", 1),
            ("delivered", 2),
        }
        if crashes >= 3:
            # The least tried go first: the rest of the batch has not waited for the culprit
            # to be given up.
            assert {d.status for d in innocents(poison)} == {"delivered"}
    # The last attempt: it kills the relay once more.
    crash_a_relay()
    assert (culprit(poison).status, culprit(poison).attempts) == ("pending", crashes_to_dead)

    Relay().drain()  # a relay starts again: it gives the culprit up and delivers the rest

    dead = culprit(poison)
    assert (dead.status, dead.attempts) == ("dead", crashes_to_dead)
    assert "without an outcome" in dead.last_error
    assert dead.lease_token is None
    assert {(d.status, d.attempts) for d in innocents(poison)} == {("delivered", 2)}
    # Exactly once: record and fragile for the six events, crashy for the five others.
    assert_effects_once(6 * 2 + 5)
    assert Relay().drain() == 0


def test_fresh_deliveries_claimed_with_a_culprit_are_delivered_first_and_not_charged(
    poison: UUID,
    publish_committed: Publish,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.BUS_MAX_ATTEMPTS = 4
    publish_committed(ThingHappened(thing_id=poison))
    crash_a_relay()
    # New events, claimed in the same batch as the culprit from now on.
    for round_ in range(2, 5):
        later = [uuid4() for _ in range(3)]
        publish_committed(*(ThingHappened(thing_id=t, n=round_) for t in later))
        crash_a_relay()
        fresh = Delivery.objects.filter(aggregate_id__in=[str(t) for t in later])
        assert {(d.status, d.attempts) for d in fresh} == {("delivered", 1)}
        assert culprit(poison).attempts == round_

    Relay().drain()

    assert culprit(poison).status == "dead"
    assert Delivery.objects.filter(status="dead").count() == 1
    # The culprit's event reached the other subscribers; the nine later ones reached all.
    assert_effects_once(2 + 9 * 3)


def test_clearing_the_leases_a_dead_relay_left_does_not_hide_the_culprit(
    poison: UUID,
    publish_committed: Publish,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """The housekeeping task clears leases that ran out; the culprit is still told apart."""
    settings.BUS_MAX_ATTEMPTS = 3
    publish_batch(publish_committed, poison, others=3)

    for _ in range(3):
        crash_a_relay()
        assert requeue_expired_leases() > 0
        assert not Delivery.objects.filter(lease_token__isnull=False).exists()
    Relay().drain()

    assert (culprit(poison).status, culprit(poison).attempts) == ("dead", 3)
    assert {(d.status, d.attempts) for d in innocents(poison)} == {("delivered", 2)}
    assert_effects_once(4 * 2 + 3)


def test_a_relay_coming_back_late_cannot_try_again_what_another_took_over(
    poison: UUID,
    publish_committed: Publish,
) -> None:
    publish_batch(publish_committed, poison, others=1)
    crash_a_relay()
    late = Relay()
    claimed = late.claim()  # this one stalls and its leases run out
    assert claimed
    assert all(item.alone for item in claimed)
    assert Relay().claim() == []  # leased: nobody else takes them
    leases_run_out()
    with pytest.raises(RelayKilled):
        Relay().drain()  # the next relay delivers what it can before the culprit kills it
    state = set(Delivery.objects.values_list("id", "status", "attempts"))
    effects = Effect.objects.count()

    late.deliver(claimed)  # no lease of its own left: it counts nothing and runs nothing

    assert set(Delivery.objects.values_list("id", "status", "attempts")) == state
    assert Effect.objects.count() == effects


CHILD = """
import os, sys
import django
django.setup()
from ecommerce.bus import subscribe
from ecommerce.bus.relay import Relay
from tests.bus.support.events import ThingHappened

def crashy(event):
    if str(event.thing_id) == sys.argv[1]:
        os._exit(137)  # as a kill -9 or the out-of-memory killer would

subscribe(ThingHappened, crashy, name="bus_support.crashy")
Relay().run_once()
"""


@pytest.mark.postgres
def test_a_relay_process_that_dies_on_one_delivery_dead_letters_only_that_one(
    deferred_bus: None,
    publish_committed: Publish,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """The same with real processes dying, as the defect was found."""
    settings.BUS_MAX_ATTEMPTS = 3
    thing = uuid4()
    subscribe(ThingHappened, lambda event: None, name=CULPRIT)  # so its deliveries exist
    try:
        publish_batch(publish_committed, thing, others=5)
    finally:
        unsubscribe(CULPRIT)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecommerce.settings.test",
        "DATABASE_URL": processes.test_database_url(),
        "BUS_MAX_ATTEMPTS": "3",
    }

    def relay_process() -> int:
        run = subprocess.run([sys.executable, "-c", CHILD, str(thing)], cwd=processes.ROOT, env=env)
        leases_run_out()
        return run.returncode

    codes = [relay_process() for _ in range(4)]

    assert codes == [137, 137, 137, 0]
    assert (culprit(thing).status, culprit(thing).attempts) == ("dead", 3)
    assert {d.status for d in innocents(thing)} == {"delivered"}
    assert_effects_once(6 * 2)
