"""A relay pass whose database connection is cut under it (a failover, a server restarting)
hands back the deliveries it holds, on a new connection: they are due again after a failed
try's backoff, a second at first, and delivered once each, instead of waiting for their
lease to run out. The server really ends the connection (``pg_terminate_backend``)."""

import time
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import DatabaseError
from django.utils import timezone

from ecommerce.bus import Event
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.relay import Relay
from tests.bus.conftest import due_now
from tests.bus.support.events import ThingHappened
from tests.bus.support.models import Effect
from tests.postgres import connection_cut_before

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_pass_the_database_fails_under_hands_back_its_deliveries_due_in_a_second(
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
    assert not pending.filter(lease_token__isnull=False).exists()  # no lease to wait for
    # Their first try failed: its backoff, half a second to a second, not the 30 s lease.
    assert not pending.filter(next_attempt_at__gt=timezone.now() + timedelta(seconds=1)).exists()
    assert set(pending.values_list("attempts", flat=True)) == {1}
    assert all("terminating connection" in e for e in pending.values_list("last_error", flat=True))
    assert f"relay pass met a database error; {deliveries} deliveries handed back" in caplog.text

    due_now()
    assert relay.drain() == deliveries

    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    effects = list(Effect.objects.values_list("subscriber", "event_id"))
    assert len(effects) == len(set(effects))  # each once
    assert len(effects) == 10  # the two support handlers that write one, five events each


def fail_a_pass_and_its_hand_back(relay: Relay) -> None:
    """As while the server restarts: the pass is cut, and so is the hand-back just after it."""
    table = Delivery._meta.db_table
    with (
        connection_cut_before(f'UPDATE "{table}" SET "leased_until" = NULL'),
        connection_cut_before(f'SELECT "{OutboxEvent._meta.db_table}"'),
        pytest.raises(DatabaseError),
    ):
        relay.run_once()


def test_a_hand_back_the_database_refuses_too_is_made_on_the_next_pass(
    relay: Relay, publish_committed: Callable[..., list[Event]], caplog: pytest.LogCaptureFixture
) -> None:
    publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(3)))
    deliveries = Delivery.objects.count()
    fail_a_pass_and_its_hand_back(relay)
    assert Delivery.objects.filter(lease_token__isnull=False).count() == deliveries  # still held

    assert relay.run_once() == 0  # hands them back first; none is due before its backoff

    pending = Delivery.objects.filter(status="pending")
    assert pending.count() == deliveries
    assert not pending.filter(lease_token__isnull=False).exists()
    assert not pending.filter(next_attempt_at__gt=timezone.now() + timedelta(seconds=1)).exists()
    assert "relay could not hand back its deliveries yet" in caplog.text
    due_now()
    assert relay.drain() == deliveries
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_batch_kept_past_its_leases_is_left_to_whichever_relay_claims_it(
    publish_committed: Callable[..., list[Event]],
    settings,  # type: ignore[no-untyped-def]
) -> None:
    # The server down for longer than the lease: by then any relay may have claimed them.
    settings.BUS_EAGER = False
    settings.BUS_LEASE_SECONDS = 0.3
    relay = Relay()
    publish_committed(ThingHappened(thing_id=uuid4()))
    deliveries = Delivery.objects.count()
    fail_a_pass_and_its_hand_back(relay)
    time.sleep(0.4)  # their leases ran out

    assert relay.drain() == deliveries  # claimed again as any relay would, not handed back

    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
