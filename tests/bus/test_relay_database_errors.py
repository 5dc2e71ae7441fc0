"""A relay pass whose database connection is cut under it (a failover, a server restarting)
hands back the deliveries it holds: they are due again at once, on a new connection, and
delivered once each, instead of waiting for their lease to run out. A handler cut short is
tried again without the try counted, so a flapping database dead-letters nothing. The
server really ends the connection (``pg_terminate_backend``)."""

from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
from django.db import DatabaseError

from ecommerce.bus import Event, subscribe
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.registry import unsubscribe
from ecommerce.bus.relay import Relay
from tests.bus.conftest import due_now
from tests.bus.support.events import ThingHappened
from tests.bus.support.models import Effect
from tests.postgres import connection_cut_before, terminate_own_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CUT = "bus_support.cut_once"


def test_a_pass_the_database_fails_under_hands_back_its_deliveries_due_now(
    relay: Relay, publish_committed: Callable[..., list[Event]], caplog: pytest.LogCaptureFixture
) -> None:
    publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(5)))
    deliveries = Delivery.objects.count()  # one per event and subscriber

    # Cut once the deliveries are claimed, as the pass reads their events (in autocommit: a
    # cut inside a transaction Django heals itself, opening a new connection after it).
    with (
        connection_cut_before(f'SELECT "{OutboxEvent._meta.db_table}"') as cut,
        pytest.raises(DatabaseError),
    ):
        relay.run_once()

    assert cut, "the connection was never cut"
    pending = Delivery.objects.filter(status="pending")
    assert pending.count() == deliveries
    assert not pending.filter(lease_token__isnull=False).exists()  # due again now
    assert f"relay pass met a database error; {deliveries} deliveries are due again" in caplog.text

    assert relay.drain() == deliveries

    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    effects = list(Effect.objects.values_list("subscriber", "event_id"))
    assert len(effects) == len(set(effects))  # each once
    assert len(effects) == 10  # the two support handlers that write one, five events each


@pytest.fixture
def handler_cut_once(deferred_bus: None) -> Iterator[list[object]]:
    """A handler whose connection the server ends the first time it runs; it writes an effect
    as the support handlers do. Yields the events it was cut on."""
    cut: list[object] = []

    def cut_once(event: ThingHappened) -> None:
        if not cut:
            cut.append(event.event_id)
            terminate_own_connection()
        Effect.objects.create(subscriber=CUT, event_id=event.event_id, aggregate_id="cut")

    subscribe(ThingHappened, cut_once, name=CUT)
    yield cut
    unsubscribe(CUT)


def test_a_handler_cut_short_is_tried_again_uncounted_and_not_dead_at_its_last_attempt(
    handler_cut_once: list[object],
    publish_committed: Callable[..., list[Event]],
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.BUS_MAX_ATTEMPTS = 1  # its first try is its last
    settings.BUS_DELIVERIES_PER_TRANSACTION = 1  # each delivery in a transaction of its own
    relay = Relay()
    publish_committed(ThingHappened(thing_id=uuid4()))

    relay.drain()

    assert handler_cut_once, "the handler never ran"
    delivery = Delivery.objects.get(subscriber=CUT)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert "terminating connection" in delivery.last_error
    assert not Effect.objects.filter(subscriber=CUT).exists()

    due_now(subscriber=CUT)  # its backoff passed
    relay.drain()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert Effect.objects.filter(subscriber=CUT).count() == 1
