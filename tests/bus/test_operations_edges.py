"""Operators' bus tools: replay's time bounds, replaying dead letters, and retry/discard that
touch only dead deliveries; and the relay's backoff cap."""

from datetime import timedelta
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.utils import timezone

from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.relay import Relay
from tests.bus.support.events import ThingHappened
from tests.bus.support.models import Effect, Poison

pytestmark = pytest.mark.django_db(transaction=True)

RECORD, FRAGILE = "bus_support.record", "bus_support.fragile"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_replay_takes_events_at_since_and_leaves_those_at_until(
    relay: Relay, publish_committed
) -> None:  # type: ignore[no-untyped-def]
    # --since T includes an event that happened at T (an operator copies T from the admin);
    # --until T excludes it, so consecutive slices never replay an event twice.
    start = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    before, at_since, inside, at_until = uuid4(), uuid4(), uuid4(), uuid4()
    publish_committed(
        ThingHappened(thing_id=before, occurred_at=start - timedelta(seconds=1)),
        ThingHappened(thing_id=at_since, occurred_at=start),
        ThingHappened(thing_id=inside, occurred_at=start + timedelta(minutes=30)),
        ThingHappened(thing_id=at_until, occurred_at=start + timedelta(hours=1)),
    )
    relay.drain()

    output = run(
        "replay_events",
        "--subscriber",
        RECORD,
        "--since",
        start.isoformat(),
        "--until",
        (start + timedelta(hours=1)).isoformat(),
    )

    assert "2 deliveries queued" in output
    assert sorted(
        Delivery.objects.filter(status="pending").values_list("aggregate_id", flat=True)
    ) == sorted([str(at_since), str(inside)])


def test_a_replayed_dead_letter_runs_again_with_fresh_attempts(
    relay: Relay, publish_committed, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.BUS_MAX_ATTEMPTS = 3
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing, n=7))
    for _ in range(3):
        Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
        Relay().drain()
    dead = Delivery.objects.get(subscriber=FRAGILE)
    assert (dead.status, dead.attempts) == ("dead", 3)

    Poison.objects.all().delete()  # the handler is fixed
    run("replay_events", "--subscriber", FRAGILE)
    Relay().drain()

    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == ("delivered", 1)
    assert list(Effect.objects.filter(subscriber=FRAGILE).values_list("n", flat=True)) == [7]


def test_the_admins_retry_of_deliveries_that_are_not_dead_changes_nothing(
    relay: Relay, publish_committed, admin_client
) -> None:  # type: ignore[no-untyped-def]
    # The Deliveries admin lists every status; "Retry" on a delivered one must not run its
    # handler again (a second email, a second charge request).
    publish_committed(ThingHappened(thing_id=uuid4(), n=1))
    relay.drain()
    delivered = Delivery.objects.get(subscriber=RECORD)

    response = admin_client.post(
        "/admin/bus/delivery/",
        {"action": "retry", "_selected_action": [delivered.pk]},
        follow=True,
    )
    relay.drain()

    assert b"0 dead deliveries queued again" in response.content
    delivered.refresh_from_db()
    assert (delivered.status, delivered.attempts) == ("delivered", 1)
    assert list(Effect.objects.filter(subscriber=RECORD).values_list("n", flat=True)) == [1]


def test_the_admins_discard_of_a_pending_delivery_changes_nothing(
    relay: Relay, publish_committed, admin_client
) -> None:  # type: ignore[no-untyped-def]
    # Discarding a pending delivery would lose the event for its subscriber.
    publish_committed(ThingHappened(thing_id=uuid4(), n=1))
    pending = Delivery.objects.get(subscriber=RECORD)

    response = admin_client.post(
        "/admin/bus/delivery/",
        {"action": "discard", "_selected_action": [pending.pk]},
        follow=True,
    )
    relay.drain()

    assert b"0 dead deliveries discarded" in response.content
    pending.refresh_from_db()
    assert pending.status == "delivered"
    assert list(Effect.objects.filter(subscriber=RECORD).values_list("n", flat=True)) == [1]


def test_a_retry_late_in_the_series_waits_no_longer_than_the_backoff_cap(
    relay: Relay, publish_committed, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.BUS_MAX_ATTEMPTS = 20
    settings.BUS_BACKOFF_BASE_SECONDS = 1
    settings.BUS_BACKOFF_MAX_SECONDS = 600
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing))
    Delivery.objects.filter(subscriber=FRAGILE).update(attempts=11)
    before = timezone.now()

    Relay().drain()  # attempt 12 fails

    delivery = Delivery.objects.get(subscriber=FRAGILE)
    waited = (delivery.next_attempt_at - before).total_seconds()
    # Between half and all of the cap (uncapped, attempt 12 would wait 1024 to 2048 s).
    assert (delivery.status, delivery.attempts) == ("pending", 12)
    assert 300 <= waited <= 600.5
    assert OutboxEvent.objects.count() == 1
