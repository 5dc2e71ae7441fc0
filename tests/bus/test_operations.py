"""Replay, dead letters, status, purge, health: what operators do with the bus."""

import threading
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from ecommerce.bus import operations
from ecommerce.bus.models import MAX_SEQUENCE, Delivery, OutboxEvent, PurgedUpTo
from ecommerce.bus.relay import Relay
from tests.bus.support.events import Deposited, ThingHappened
from tests.bus.support.models import Balance, Effect, Poison

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_replay_rebuilds_a_projection_equal_to_the_original(
    relay: Relay, publish_committed
) -> None:  # type: ignore[no-untyped-def]
    accounts = [uuid4() for _ in range(5)]
    publish_committed(
        *(
            Deposited(account_id=accounts[i % 5], amount=Decimal(i) + Decimal("0.25"))
            for i in range(40)
        )
    )
    relay.drain()
    original = sorted(Balance.objects.values_list("account_id", "total", "deposits"))
    assert len(original) == 5

    Balance.objects.all().delete()
    run("replay_events", "--subscriber", "bus_support.balance")
    relay.drain()

    assert sorted(Balance.objects.values_list("account_id", "total", "deposits")) == original


def test_replay_of_one_aggregate_re_runs_only_that_slice(relay: Relay, publish_committed) -> None:  # type: ignore[no-untyped-def]
    a, b = uuid4(), uuid4()
    publish_committed(ThingHappened(thing_id=a, n=1), ThingHappened(thing_id=b, n=2))
    relay.drain()

    output = run(
        "replay_events",
        "--type",
        "bus_support.ThingHappened",
        "--aggregate-id",
        str(a),
        "--subscriber",
        "bus_support.record",
    )
    relay.drain()

    assert "1 deliveries queued" in output
    record = Effect.objects.filter(subscriber="bus_support.record")
    assert sorted(record.values_list("n", flat=True)) == [1, 1, 2]
    assert Effect.objects.filter(subscriber="bus_support.fragile").count() == 2


def test_a_dry_run_prints_the_plan_and_changes_nothing(relay: Relay, publish_committed) -> None:  # type: ignore[no-untyped-def]
    publish_committed(*(ThingHappened(thing_id=uuid4()) for _ in range(3)))
    relay.drain()
    before = list(Delivery.objects.values_list("id", "status", "attempts"))

    output = run("replay_events", "--type", "bus_support.ThingHappened", "--dry-run")

    assert "3  bus_support.ThingHappened" in output
    assert "-> bus_support.record" in output
    assert "dry run: 9 deliveries would be replayed" in output
    assert list(Delivery.objects.values_list("id", "status", "attempts")) == before


def test_a_replay_and_its_plan_read_the_events_in_bounded_pieces(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(operations, "CHUNK", 2)
    publish_committed(*(ThingHappened(thing_id=uuid4(), n=i) for i in range(5)))
    relay.drain()
    Effect.objects.all().delete()
    selection = operations.ReplaySlice(subscriber="bus_support.record")

    with CaptureQueriesContext(connection) as planning:
        plan = operations.replay_plan(selection)
    with CaptureQueriesContext(connection) as replaying:
        queued = operations.replay(selection)
    relay.drain()

    assert plan == {("bus_support.ThingHappened", "bus_support.record"): 5}
    # Counted per event type, not per event: the GROUP BY holds the type alone.
    [grouped] = [q["sql"] for q in planning if "GROUP BY" in q["sql"]]
    assert "id" not in grouped.split("GROUP BY")[1].replace('"', " ").split()
    # Read two at a time: three pages and the empty one that ends it.
    pages = [q["sql"] for q in replaying if q["sql"].startswith('SELECT "bus_event"')]
    assert len(pages) == 4
    assert all(page.endswith("LIMIT 2") for page in pages)
    assert queued == 5
    assert sorted(Effect.objects.values_list("n", flat=True)) == [0, 1, 2, 3, 4]


def test_replay_by_time_range(relay: Relay, publish_committed) -> None:  # type: ignore[no-untyped-def]
    old, new = uuid4(), uuid4()
    publish_committed(
        ThingHappened(thing_id=old, occurred_at=timezone.now() - timedelta(days=2)),
        ThingHappened(thing_id=new),
    )
    relay.drain()
    since = (timezone.now() - timedelta(days=1)).isoformat()

    output = run("replay_events", "--since", since, "--subscriber", "bus_support.record")

    assert "1 deliveries queued" in output
    assert list(
        Delivery.objects.filter(status="pending").values_list("aggregate_id", flat=True)
    ) == [str(new)]


def test_a_date_or_a_time_without_offset_is_utc(relay: Relay, publish_committed) -> None:  # type: ignore[no-untyped-def]
    publish_committed(
        ThingHappened(thing_id=uuid4(), occurred_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC)),
        ThingHappened(thing_id=uuid4(), occurred_at=datetime(2026, 3, 2, 0, 30, tzinfo=UTC)),
    )
    relay.drain()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "naive datetime" RuntimeWarning
        output = run(
            "replay_events",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-02T01:00:00",
            "--subscriber",
            "bus_support.record",
            "--dry-run",
        )

    assert "1 deliveries" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subscriber", "nobody.here"], "unknown subscriber 'nobody.here'"),
        (["--type", "cart.NoSuchEvent"], "unknown event type 'cart.NoSuchEvent'"),
        (["--aggregate-type", "cartz"], "unknown aggregate type 'cartz'"),
        (["--since", "yesterday"], "not an ISO 8601"),
        (["--since", "2026-02-30T00:00:00Z"], "not an ISO 8601"),  # no such day
        (["--until", "2026-13-01T00:00:00Z"], "not an ISO 8601"),
        (["--until", "2026-01-01T25:00:00"], "not an ISO 8601"),
    ],
)
def test_replay_refuses_unknown_names_and_changes_nothing(
    relay: Relay,
    publish_committed,
    args: list[str],
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    publish_committed(ThingHappened(thing_id=uuid4()))
    relay.drain()

    with pytest.raises(CommandError, match=message):
        call_command("replay_events", *args)
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_dead_letters_can_be_listed_and_discarded(
    relay: Relay, publish_committed, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.BUS_MAX_ATTEMPTS = 1
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing), ThingHappened(thing_id=thing, n=2))
    Relay().drain()
    dead = Delivery.objects.get(status="dead")

    listing = run("dead_letters", "list")
    assert f"{dead.pk:>8}  bus_support.fragile" in listing
    assert "is poisoned" in listing
    assert "1 dead deliveries" in listing
    with pytest.raises(CommandError, match="no dead delivery with id 999999; nothing done"):
        call_command("dead_letters", "retry", str(dead.pk), "999999")
    assert Delivery.objects.get(pk=dead.pk).status == "dead"

    assert "1 deliveries discarded" in run("dead_letters", "discard", str(dead.pk))
    Relay().drain()  # discarded no longer blocks the aggregate
    assert Delivery.objects.get(pk=dead.pk).status == "discarded"
    assert Effect.objects.filter(subscriber="bus_support.fragile").count() == 0  # still poisoned
    assert Delivery.objects.filter(status="dead").count() == 1  # the second event, now tried


@pytest.fixture
def dead_letter(relay: Relay, publish_committed, settings) -> Delivery:  # type: ignore[no-untyped-def]
    """One event of a poisoned thing, its delivery to the fragile subscriber dead."""
    settings.BUS_MAX_ATTEMPTS = 1
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing))
    Relay().drain()
    return Delivery.objects.get(status="dead")


def test_dead_letters_of_a_subscriber_gone_from_the_code_can_still_be_discarded(
    dead_letter: Delivery,
) -> None:
    Delivery.objects.filter(pk=dead_letter.pk).update(subscriber="old_app.removed")

    assert "1 deliveries discarded" in run(
        "dead_letters", "discard", "--subscriber", "old_app.removed"
    )
    assert Delivery.objects.filter(status="discarded", subscriber="old_app.removed").count() == 1


@pytest.mark.parametrize("action", ["list", "retry", "discard"])
def test_dead_letters_with_a_name_neither_known_nor_found_is_an_error(
    dead_letter: Delivery, action: str
) -> None:

    with pytest.raises(CommandError, match=r"unknown subscriber 'bus_support\.fragil'"):
        run("dead_letters", action, "--subscriber", "bus_support.fragil")
    with pytest.raises(CommandError, match="unknown event type 'ThingHappened'"):
        run("dead_letters", action, "--type", "ThingHappened")
    assert Delivery.objects.filter(status="dead").count() == 1


def test_status_and_health_report_the_backlog(relay: Relay, publish_committed, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BUS_MAX_ATTEMPTS = 1
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing))
    Relay().drain()
    publish_committed(ThingHappened(thing_id=uuid4()))

    backlog = operations.backlog()
    assert (backlog["pending"], backlog["dead"]) == (3, 1)
    assert 0 <= backlog["oldest_due_seconds"] < 10  # the second event's, just published
    health = APIClient().get("/api/v1/health").json()
    assert (health["bus"]["pending"], health["bus"]["dead"], health["bus"]["status"]) == (
        3,
        1,
        "degraded",
    )

    rows = {row.subscriber: row for row in operations.status()}
    assert (rows["bus_support.fragile"].pending, rows["bus_support.fragile"].dead) == (1, 1)
    assert rows["bus_support.record"].delivered_last_minute == 1
    assert rows["bus_support.record"].oldest_pending_seconds is not None
    assert "bus_support.fragile" in run("bus_status")


def test_purge_deletes_only_finished_events_past_retention(
    relay: Relay, publish_committed, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.BUS_MAX_ATTEMPTS = 1
    long_ago = timezone.now() - timedelta(days=40)
    poisoned = uuid4()
    Poison.objects.create(aggregate_id=str(poisoned))
    publish_committed(
        ThingHappened(thing_id=uuid4(), occurred_at=long_ago),  # finished: purged
        ThingHappened(thing_id=poisoned, occurred_at=long_ago),  # dead delivery: kept
        ThingHappened(thing_id=uuid4()),  # recent: kept
    )
    Relay().drain()

    assert operations.purge_delivered(older_than_days=30) == 1
    remaining = OutboxEvent.objects.values_list("aggregate_id", "occurred_at")
    assert len(remaining) == 2
    assert (str(poisoned), long_ago) in set(remaining)


def test_purge_picks_each_batch_after_the_last_so_kept_events_are_looked_at_once(
    relay: Relay,
    publish_committed,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.BUS_MAX_ATTEMPTS = 1
    monkeypatch.setattr(operations, "CHUNK", 2)
    long_ago = timezone.now() - timedelta(days=40)
    poisoned = [uuid4(), uuid4()]
    for thing in poisoned:
        Poison.objects.create(aggregate_id=str(thing))
    publish_committed(
        *(ThingHappened(thing_id=thing, occurred_at=long_ago) for thing in poisoned),
        *(ThingHappened(thing_id=uuid4(), occurred_at=long_ago) for _ in range(4)),
    )
    Relay().drain()
    ids = sorted(OutboxEvent.objects.values_list("id", flat=True))

    with CaptureQueriesContext(connection) as queries:
        assert operations.purge_delivered(older_than_days=30) == 4

    picks = [q["sql"] for q in queries if q["sql"].startswith('SELECT "bus_event"."id"')]
    picks = [sql for sql in picks if "EXISTS" in sql]
    # From the start, then after each page's last id: ids[3] and ids[5]; the kept two come
    # first and are not read again.
    first, *later = picks
    assert '"bus_event"."id" >' not in first
    assert [
        f'"bus_event"."id" > {after}' in sql
        for sql, after in zip(later, [ids[3], ids[5]], strict=True)
    ] == [True] * 2
    assert sorted(OutboxEvent.objects.values_list("aggregate_id", flat=True)) == sorted(
        str(thing) for thing in poisoned
    )


def test_purge_keeps_an_event_replayed_after_it_was_picked(
    relay: Relay, publish_committed, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    publish_committed(
        ThingHappened(thing_id=uuid4(), occurred_at=timezone.now() - timedelta(days=40))
    )
    Relay().drain()
    picked_then_replayed: list[int] = []
    replaying = []

    class ReplayFirst:
        """The purge's transaction module, with a replay committed just before its delete."""

        def __getattr__(self, name: str) -> object:
            return getattr(transaction, name)

        def atomic(self, *args: object, **kwargs: object) -> object:
            if not replaying:  # the first transaction is the purge's; the replay has its own
                replaying.append(True)
                replay = operations.ReplaySlice(subscriber="bus_support.record")
                picked_then_replayed.append(operations.replay(replay))
            return transaction.atomic(*args, **kwargs)

    monkeypatch.setattr(operations, "transaction", ReplayFirst())

    assert operations.purge_delivered(older_than_days=30) == 0

    assert picked_then_replayed == [1]
    assert OutboxEvent.objects.count() == 1
    assert Delivery.objects.get(subscriber="bus_support.record").status == "pending"
    monkeypatch.undo()
    Relay().drain()  # the replay goes through
    assert Delivery.objects.get(subscriber="bus_support.record").status == "delivered"


def purged_up_to() -> set[tuple[str, str, int]]:
    return set(PurgedUpTo.objects.values_list("subscriber", "aggregate_id", "sequence"))


def test_purge_records_per_subscriber_and_aggregate_the_greatest_sequence_it_purged(
    relay: Relay, publish_committed
) -> None:  # type: ignore[no-untyped-def]
    thing, other = uuid4(), uuid4()
    now = timezone.now()
    # Sequence follows commit order, the time does not: the first event of the thing was
    # created after the second (two transactions committing in the other order).
    publish_committed(
        ThingHappened(thing_id=thing, occurred_at=now - timedelta(days=20)),
        ThingHappened(thing_id=thing, occurred_at=now - timedelta(days=40)),
        ThingHappened(thing_id=other, occurred_at=now - timedelta(days=40)),
    )
    relay.drain()
    subscribers = ["bus_support.fragile", "bus_support.noop", "bus_support.record"]

    assert operations.purge_delivered(older_than_days=30) == 2

    marks = {(s, str(thing), 2) for s in subscribers} | {(s, str(other), 1) for s in subscribers}
    assert purged_up_to() == marks
    # Later sequence 1 is past retention too: its purge keeps the mark at 2.
    assert operations.purge_delivered(older_than_days=10) == 1
    assert purged_up_to() == marks
    assert not OutboxEvent.objects.exists()


def test_purge_records_its_marks_in_the_transaction_that_deletes(
    relay: Relay, publish_committed, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    thing = uuid4()
    publish_committed(
        ThingHappened(thing_id=thing, occurred_at=timezone.now() - timedelta(days=40))
    )
    relay.drain()
    record_purged = operations._record_purged

    def record_then_lose_the_connection(event_ids: list[int]) -> None:
        record_purged(event_ids)
        assert len(purged_up_to()) == 3  # written, not committed
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(operations, "_record_purged", record_then_lose_the_connection)
    with pytest.raises(DatabaseError):
        operations.purge_delivered(older_than_days=30)

    assert purged_up_to() == set()
    assert Delivery.objects.filter(status="delivered").count() == 3
    monkeypatch.undo()
    assert operations.purge_delivered(older_than_days=30) == 1
    assert len(purged_up_to()) == 3
    assert not Delivery.objects.exists()


def test_replay_after_a_purge_re_delivers_what_is_left_whatever_the_marks(
    relay: Relay, publish_committed
) -> None:  # type: ignore[no-untyped-def]
    thing = uuid4()
    now = timezone.now()
    publish_committed(
        ThingHappened(thing_id=thing, n=1, occurred_at=now - timedelta(days=20)),
        ThingHappened(thing_id=thing, n=2, occurred_at=now - timedelta(days=40)),
    )
    relay.drain()
    assert operations.purge_delivered(older_than_days=30) == 1
    assert ("bus_support.record", str(thing), 2) in purged_up_to()

    # Sequence 1 is below the mark, and still in the outbox: a replay is asked for, it runs.
    assert operations.replay(operations.ReplaySlice(subscriber="bus_support.record")) == 1
    relay.drain()

    record = Effect.objects.filter(subscriber="bus_support.record").order_by("id")
    assert list(record.values_list("n", flat=True)) == [1, 2, 1]


@pytest.mark.postgres
def test_a_delivery_recorded_while_its_event_is_purged_waits_for_the_purge_and_fails(
    relay: Relay, publish_committed, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A consumer reading the event again for a subscriber it had not reached: its delivery
    must not slip in between the purge's marks and its delete, deleted with no mark."""
    publish_committed(
        ThingHappened(thing_id=uuid4(), occurred_at=timezone.now() - timedelta(days=40))
    )
    relay.drain()
    event = OutboxEvent.objects.get()
    outcome: list[str] = []

    def deliver_to_a_late_subscriber() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.create(
                    event=event,
                    subscriber="bus_support.late",
                    aggregate_type=event.aggregate_type,
                    aggregate_id=event.aggregate_id,
                    sequence=event.sequence,
                    status="delivered",
                    next_attempt_at=timezone.now(),
                )
            outcome.append("committed")
        except IntegrityError:
            outcome.append("refused")
        finally:
            connection.close()

    late = threading.Thread(target=deliver_to_a_late_subscriber)
    record_purged = operations._record_purged

    def record_then_race(event_ids: list[int]) -> None:
        record_purged(event_ids)
        late.start()
        late.join(timeout=0.5)  # commits at once unless the purge holds the event

    monkeypatch.setattr(operations, "_record_purged", record_then_race)

    assert operations.purge_delivered(older_than_days=30) == 1

    late.join(timeout=10)
    assert outcome == ["refused"]  # it waited for the purge, then found its event gone
    assert not Delivery.objects.exists()
    assert {s for s, _, _ in purged_up_to()} == {
        "bus_support.fragile",
        "bus_support.noop",
        "bus_support.record",
    }


def test_requeue_clears_expired_leases(relay: Relay, publish_committed) -> None:  # type: ignore[no-untyped-def]
    publish_committed(ThingHappened(thing_id=uuid4()))
    relay.claim()
    Delivery.objects.update(leased_until=timezone.now() - timedelta(seconds=5))

    assert operations.requeue_expired_leases() == 3
    assert not Delivery.objects.filter(leased_until__isnull=False).exists()


def test_staff_retry_a_dead_letter_from_the_admin(
    relay: Relay, publish_committed, settings, admin_client
) -> None:  # type: ignore[no-untyped-def]
    settings.BUS_MAX_ATTEMPTS = 1
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing))
    Relay().drain()
    dead = Delivery.objects.get(status="dead")
    assert admin_client.get("/admin/bus/delivery/?status__exact=dead").status_code == 200
    assert admin_client.get(f"/admin/bus/outboxevent/{dead.event_id}/change/").status_code == 200

    Poison.objects.all().delete()
    response = admin_client.post(
        "/admin/bus/delivery/", {"action": "retry", "_selected_action": [dead.pk]}, follow=True
    )
    Relay().drain()

    assert b"1 dead deliveries queued again" in response.content
    assert Delivery.objects.get(pk=dead.pk).status == "delivered"
    assert Effect.objects.filter(subscriber="bus_support.fragile").count() == 1


def test_housekeeping_is_scheduled_with_django_q() -> None:
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    from ecommerce.bus import tasks

    # Earlier transactional tests flush the tables, so run the data migration again here;
    # it is idempotent by schedule name.
    migration = import_module("ecommerce.bus.migrations.0002_housekeeping_schedules")
    migration.create_schedules(apps, None)
    migration.create_schedules(apps, None)

    assert Schedule.objects.filter(name__startswith="bus: ").count() == 2
    schedules = dict(Schedule.objects.values_list("func", "minutes"))
    assert schedules["ecommerce.bus.tasks.purge_delivered_events"] == 60
    assert schedules["ecommerce.bus.tasks.requeue_expired_leases"] == 1
    assert tasks.purge_delivered_events() == 0
    assert tasks.requeue_expired_leases() == 0


def sequences(*things: object) -> list[int]:
    return [
        seq
        for thing in things
        for seq in OutboxEvent.objects.filter(aggregate_id=str(thing))
        .order_by("id")
        .values_list("sequence", flat=True)
    ]


def test_advance_sequences_numbers_old_and_new_aggregates_past_everything_before(
    publish_committed, deferred_bus: None
) -> None:  # type: ignore[no-untyped-def]
    old, new = uuid4(), uuid4()
    publish_committed(ThingHappened(thing_id=old), ThingHappened(thing_id=old))

    assert run("advance_sequences", "--by", "1000") == (
        "1 aggregates' sequences raised by 1000; new aggregates start after 1000\n"
    )
    publish_committed(ThingHappened(thing_id=old), ThingHappened(thing_id=new))
    assert sequences(old, new) == [1, 2, 1003, 1001]

    # Again (a second restore): both move on from where they are, the floor with them.
    assert operations.advance_sequences(by=10) == operations.SequencesAdvanced(
        aggregates=2, floor=1010
    )
    newer = uuid4()
    publish_committed(
        ThingHappened(thing_id=old), ThingHappened(thing_id=new), ThingHappened(thing_id=newer)
    )
    assert sequences(old, new, newer) == [1, 2, 1003, 1014, 1001, 1012, 1011]


def test_advance_sequences_by_more_than_32_bits_hold_moves_forward_by_exactly_that(
    publish_committed, deferred_bus: None
) -> None:  # type: ignore[no-untyped-def]
    thing = uuid4()
    publish_committed(ThingHappened(thing_id=thing))
    by = 2**32 - 1  # bound as a 32-bit integer, it would be -1

    run("advance_sequences", "--by", str(by))
    publish_committed(ThingHappened(thing_id=thing))

    assert sequences(thing) == [1, 2**32 + 1]


@pytest.mark.parametrize("by", ["0", "-5"])
def test_advance_sequences_refuses_to_go_back_and_changes_nothing(
    by: str, publish_committed, deferred_bus: None
) -> None:  # type: ignore[no-untyped-def]
    thing = uuid4()
    publish_committed(ThingHappened(thing_id=thing))

    with pytest.raises(CommandError, match="only move forward"):
        run("advance_sequences", "--by", by)

    publish_committed(ThingHappened(thing_id=thing), ThingHappened(thing_id=uuid4()))
    assert sorted(OutboxEvent.objects.values_list("sequence", flat=True)) == [1, 1, 2]


def test_advance_sequences_refuses_to_pass_what_the_columns_hold_and_changes_nothing(
    publish_committed, deferred_bus: None
) -> None:  # type: ignore[no-untyped-def]
    thing = uuid4()
    publish_committed(ThingHappened(thing_id=thing), ThingHappened(thing_id=thing))

    with pytest.raises(CommandError, match="the highest now is 2"):
        run("advance_sequences", "--by", str(MAX_SEQUENCE - 1))

    publish_committed(ThingHappened(thing_id=thing), ThingHappened(thing_id=uuid4()))
    assert sequences(thing) == [1, 2, 3]
    assert operations.advance_sequences(by=MAX_SEQUENCE - 3).floor == (MAX_SEQUENCE - 3)


def test_staff_without_the_bus_permission_cannot_see_or_discard_dead_letters(
    relay: Relay,
    publish_committed,
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    # Discarding the payments subscriber's delivery of a checkout leaves that order uncharged.
    publish_committed(ThingHappened(thing_id=uuid4()))
    Delivery.objects.update(status="dead")
    dead = Delivery.objects.first()
    client = Client()
    client.force_login(make_user("editor@example.com", staff=True))  # a catalog editor

    listed = client.get("/admin/bus/delivery/")
    client.post("/admin/bus/delivery/", {"action": "discard", "_selected_action": [dead.pk]})

    assert listed.status_code == 403
    assert Delivery.objects.get(pk=dead.pk).status == "dead"


@pytest.mark.postgres
def test_more_dead_letters_than_one_statement_takes_are_retried_and_discarded(
    dead_letter: Delivery,
) -> None:
    # PostgreSQL takes at most 65,535 parameters in a statement: a list of that many ids in
    # one IN (...) made the admin's select-all and the command fail, changing nothing.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bus_delivery (event_id, subscriber, aggregate_type, aggregate_id,"
            " sequence, status, attempts, next_attempt_at, last_error)"
            " SELECT event_id, 'gone.' || n, aggregate_type, aggregate_id, sequence, status,"
            " attempts, next_attempt_at, last_error"
            " FROM bus_delivery, generate_series(1, 70000) AS n WHERE id = %s",
            [dead_letter.pk],
        )

    assert "70001 deliveries queued again" in run("dead_letters", "retry")
    assert not Delivery.objects.filter(status="dead").exists()

    Delivery.objects.filter(status="pending").update(status="dead")
    all_dead = list(Delivery.objects.filter(status="dead").values_list("pk", flat=True))
    assert operations.dead_letters_discard(all_dead) == 70001
    assert Delivery.objects.filter(status="discarded").count() == 70001
