"""The kafka transport against librdkafka's mock cluster: produce, consume, order, failures."""

import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from uuid import uuid4

import pytest
from confluent_kafka import Producer
from django.core.management import CommandError, call_command
from django.db import OperationalError, transaction
from django.db.models import Count
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from ecommerce.bus import operations, publish, subscribe
from ecommerce.bus.kafka.consumer import AppConsumer, StartAt
from ecommerce.bus.kafka.producer import drop_producers
from ecommerce.bus.models import AggregateSequence, Delivery, OutboxEvent, PurgedUpTo
from ecommerce.bus.registry import unsubscribe
from ecommerce.bus.relay import Relay
from tests.bus.conftest import due_now
from tests.bus.mock_kafka import MockCluster, closed_port, headers, read_topic
from tests.bus.support.events import Deposited, ThingHappened
from tests.bus.support.models import Balance, Effect, Poison
from tests.processes import spawn_manage, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCER = "kafka.producer"
RECORD, FRAGILE, NOOP = "bus_support.record", "bus_support.fragile", "bus_support.noop"
NEWCOMER = "bus_support.newcomer"
# The next generation group protocol (KIP-848): the mock cluster assigns partitions at once,
# where the classic protocol waits 3 s for more members to join.
FAST_GROUPS = {"group.protocol": "consumer"}


@pytest.fixture(scope="module")
def cluster() -> MockCluster:
    return MockCluster(brokers=3)


@pytest.fixture
def kafka_bus(settings: SettingsWrapper, cluster: MockCluster) -> Iterator[str]:
    """The kafka transport on the mock cluster, with topics of this test's own."""
    settings.BUS_EAGER = False
    settings.EVENT_TRANSPORT = "kafka"
    settings.KAFKA_BOOTSTRAP_SERVERS = cluster.bootstrap_servers
    settings.KAFKA_TOPIC_PREFIX = f"test-{uuid4().hex[:8]}."
    settings.KAFKA_PRODUCER_CONFIG = {"log_level": 4}
    settings.KAFKA_CONSUMER_CONFIG = {**FAST_GROUPS, "log_level": 4}
    yield settings.KAFKA_TOPIC_PREFIX
    drop_producers()


def publish_committed(*events: object) -> None:
    with transaction.atomic():
        for event in events:
            publish(event)  # type: ignore[arg-type]


def consume(
    until: Callable[[AppConsumer], bool], *, timeout: float = 20, **options: object
) -> AppConsumer:
    """Run the bus_support app's consumer until ``until(consumer)`` holds (or time runs out)."""
    consumer = AppConsumer("bus_support", **options)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    consumer.run(
        should_stop=lambda: until(consumer) or time.monotonic() > deadline, poll_seconds=0.1
    )
    assert until(consumer), "the consumer ran out of time"
    return consumer


def effects(subscriber: str, **filters: object) -> list[int]:
    return list(
        Effect.objects.filter(subscriber=subscriber, **filters)
        .order_by("id")
        .values_list("n", flat=True)
    )


def assert_each_effect_once() -> None:
    doubles = (
        Effect.objects.values("subscriber", "event_id").annotate(n=Count("id")).filter(n__gt=1)
    )
    assert list(doubles) == []


def test_publish_records_one_producer_delivery_and_the_relay_produces_the_event_with_its_envelope(
    kafka_bus: str, cluster: MockCluster
) -> None:
    thing = uuid4()
    with transaction.atomic():
        event = publish(ThingHappened(thing_id=thing, n=7))

    # One delivery, for the producer, instead of one per local subscriber.
    assert list(Delivery.objects.values_list("subscriber", "status")) == [(PRODUCER, "pending")]
    assert Relay().drain() == 1

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, "")
    [message] = read_topic(cluster.bootstrap_servers, f"{kafka_bus}bus_support", expect=1)
    assert message.key() == str(thing).encode()
    assert json.loads(message.value() or b"") == {"thing_id": str(thing), "n": 7, "sleep_ms": 0}
    assert headers(message) == {
        "event_id": str(event.event_id),
        "event_type": "bus_support.ThingHappened",
        "event_version": "1",
        "aggregate_type": "bus_support",
        "sequence": "1",
        "occurred_at": event.occurred_at.isoformat(),
        "correlation_id": str(event.event_id),
    }
    assert not Effect.objects.exists()  # nothing runs in-process with the kafka transport


def test_an_app_consumer_runs_its_subscribers_once_and_writes_the_same_delivery_rows(
    kafka_bus: str, settings: SettingsWrapper
) -> None:
    settings.KAFKA_CONSUMER_CONFIG = {"log_level": 4}  # the classic group protocol, once
    thing = uuid4()
    publish_committed(ThingHappened(thing_id=thing, n=1), ThingHappened(thing_id=thing, n=2))
    Relay().drain()

    consumer = consume(lambda c: c.messages_read == 2, timeout=30)

    assert consumer.group_id == f"{kafka_bus}bus_support"
    assert consumer.topics == [f"{kafka_bus}account", f"{kafka_bus}bus_support"]
    assert effects(RECORD) == [1, 2]
    assert effects(FRAGILE) == [1, 2]
    assert sorted(Delivery.objects.values_list("subscriber", "event__sequence", "status")) == [
        ("bus_support.fragile", 1, "delivered"),
        ("bus_support.fragile", 2, "delivered"),
        ("bus_support.noop", 1, "delivered"),
        ("bus_support.noop", 2, "delivered"),
        ("bus_support.record", 1, "delivered"),
        ("bus_support.record", 2, "delivered"),
        (PRODUCER, 1, "delivered"),
        (PRODUCER, 2, "delivered"),
    ]


def test_events_a_handler_publishes_go_out_through_kafka_with_the_correlation_of_their_cause(
    kafka_bus: str,
) -> None:
    account = uuid4()
    with transaction.atomic():
        deposit = publish(Deposited(account_id=account, amount=Decimal("5000.00")))
    Relay().drain()

    def flagged_then_audited(consumer: AppConsumer) -> bool:
        # The balance handler publishes LargeDepositFlagged; this process's relay produces it.
        Relay().drain()
        return Effect.objects.filter(subscriber="bus_support.audit").exists()

    consume(flagged_then_audited)

    assert Balance.objects.get().total == Decimal("5000.00")
    flagged = OutboxEvent.objects.get(event_type="bus_support.LargeDepositFlagged")
    assert (flagged.correlation_id, flagged.causation_id) == (deposit.event_id, deposit.event_id)
    assert Effect.objects.get(subscriber="bus_support.audit").event_id == flagged.event_id


def test_each_aggregates_events_arrive_in_order_across_partitions(
    kafka_bus: str, cluster: MockCluster
) -> None:
    things = [uuid4() for _ in range(8)]
    for round_ in range(5):
        publish_committed(*(ThingHappened(thing_id=t, n=round_) for t in things))
    Relay().drain()

    messages = read_topic(cluster.bootstrap_servers, f"{kafka_bus}bus_support", expect=40)
    partitions_of = {
        t: {m.partition() for m in messages if m.key() == str(t).encode()} for t in things
    }
    assert all(len(p) == 1 for p in partitions_of.values())  # a key stays on its partition
    assert len(set().union(*partitions_of.values())) > 1  # and the keys spread over several

    consume(lambda c: c.messages_read == 40)

    for thing in things:
        assert effects(RECORD, aggregate_id=str(thing)) == [0, 1, 2, 3, 4]
        assert effects(FRAGILE, aggregate_id=str(thing)) == [0, 1, 2, 3, 4]


def test_a_consumer_stopped_mid_stream_and_a_new_one_in_its_group_apply_every_event_once(
    kafka_bus: str,
) -> None:
    things = [uuid4() for _ in range(5)]
    publish_committed(*(ThingHappened(thing_id=things[i % 5], n=i) for i in range(30)))
    Relay().drain()

    consume(
        lambda c: Effect.objects.filter(subscriber=RECORD).count() >= 10,
    )
    assert 10 <= Effect.objects.filter(subscriber=RECORD).count() < 30
    consume(lambda c: Effect.objects.filter(subscriber=RECORD).count() == 30)

    assert sorted(effects(RECORD)) == list(range(30))
    assert sorted(effects(FRAGILE)) == list(range(30))
    assert_each_effect_once()

    # Every message read again: by a new group (from the beginning, as any new group), and
    # by the same group told to re-read. Nothing happens twice.
    consume(lambda c: c.messages_read == 30, group_id=f"{kafka_bus}rebuild")
    consume(lambda c: c.messages_read == 30, start=StartAt(from_beginning=True))
    assert Effect.objects.count() == 60
    assert_each_effect_once()


def test_a_failing_handler_is_retried_by_the_relay_with_backoff_and_holds_back_only_its_aggregate(
    kafka_bus: str,
) -> None:
    poisoned, healthy = uuid4(), uuid4()
    Poison.objects.create(aggregate_id=str(poisoned))
    publish_committed(
        ThingHappened(thing_id=poisoned, n=1),
        ThingHappened(thing_id=poisoned, n=2),
        ThingHappened(thing_id=healthy, n=3),
    )
    Relay().drain()
    before = timezone.now()

    consume(lambda c: c.messages_read == 3)
    after = timezone.now()

    # The consumer moved on: the failure is a pending delivery with the relay's backoff (half
    # to all of a second from when the handler failed, some time during consume), the next
    # event of the same aggregate waits behind it, the other aggregate went through.
    first = Delivery.objects.get(subscriber=FRAGILE, aggregate_id=str(poisoned), sequence=1)
    assert (first.status, first.attempts) == ("pending", 1)
    assert "is poisoned" in first.last_error
    assert before + timedelta(seconds=0.5) <= first.next_attempt_at
    assert first.next_attempt_at <= after + timedelta(seconds=1)
    second = Delivery.objects.get(subscriber=FRAGILE, aggregate_id=str(poisoned), sequence=2)
    assert (second.status, second.attempts) == ("pending", 0)
    assert effects(FRAGILE) == [3]
    assert sorted(effects(RECORD)) == [1, 2, 3]

    # The handler is fixed; the relay of the consuming side finishes the work, in order.
    Poison.objects.all().delete()
    due_now()
    Relay().drain()

    assert effects(FRAGILE, aggregate_id=str(poisoned)) == [1, 2]
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_a_handler_out_of_attempts_is_a_dead_letter_an_operator_can_retry(
    kafka_bus: str, settings: SettingsWrapper
) -> None:
    settings.BUS_MAX_ATTEMPTS = 1
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing, n=1))
    Relay().drain()

    consume(lambda c: c.messages_read == 1)

    dead = Delivery.objects.get(subscriber=FRAGILE)
    assert (dead.status, dead.attempts) == ("dead", 1)
    Poison.objects.all().delete()
    call_command("dead_letters", "retry", "--subscriber", FRAGILE)
    Relay().drain()
    assert effects(FRAGILE) == [1]


def test_a_message_whose_writes_fail_at_commit_goes_to_the_relay_and_frees_its_partition(
    kafka_bus: str, settings: SettingsWrapper
) -> None:
    settings.BUS_MAX_ATTEMPTS = 2
    poisoned, healthy = uuid4(), uuid4()
    Poison.objects.create(aggregate_id=str(poisoned), at_commit=True)
    publish_committed(
        ThingHappened(thing_id=poisoned, n=1),
        ThingHappened(thing_id=poisoned, n=2),
        ThingHappened(thing_id=healthy, n=3),
    )
    Relay().drain()

    # The first message's transaction cannot commit (a foreign key checked at commit); no
    # retry of it would. Its deliveries are left pending for the relay, with the reason,
    # the next event of the aggregate waits behind them, the other aggregate goes on.
    consume(lambda c: c.messages_read == 3, timeout=10)

    first = {
        d.subscriber: d
        for d in Delivery.objects.filter(aggregate_id=str(poisoned), sequence=1).exclude(
            subscriber=PRODUCER
        )
    }
    assert {name: (d.status, d.attempts) for name, d in first.items()} == {
        RECORD: ("pending", 0),
        NOOP: ("pending", 0),
        FRAGILE: ("pending", 0),
    }
    assert "IntegrityError" in first[FRAGILE].last_error
    second = Delivery.objects.filter(aggregate_id=str(poisoned), sequence=2)
    assert set(second.exclude(subscriber=PRODUCER).values_list("status", "attempts")) == {
        ("pending", 0)
    }
    assert effects(RECORD) == effects(FRAGILE) == [3]

    # The relay runs each handler on its own: the others go through, the fragile one fails
    # at commit like any failing handler, with backoff, then dead after its last attempt.
    Relay().drain()
    assert effects(RECORD) == [3, 1, 2]
    fragile = Delivery.objects.get(pk=first[FRAGILE].pk)
    assert (fragile.status, fragile.attempts) == ("pending", 1)
    assert "IntegrityError" in fragile.last_error
    due_now()
    Relay().drain()
    assert Delivery.objects.get(pk=first[FRAGILE].pk).status == "dead"

    # Fixed and retried by an operator: every effect once, in order.
    Poison.objects.all().delete()
    call_command("dead_letters", "retry", "--subscriber", FRAGILE)
    Relay().drain()
    assert effects(FRAGILE) == [3, 1, 2]
    assert not Delivery.objects.exclude(status="delivered").exists()
    assert_each_effect_once()


def test_a_message_met_by_a_database_outage_is_read_again_once_the_database_is_back(
    kafka_bus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    thing = uuid4()
    publish_committed(ThingHappened(thing_id=thing, n=1))
    Relay().drain()
    handle, tries = AppConsumer._handle, []

    def database_down_twice(self: AppConsumer, *args: Any, **kwargs: Any) -> int:
        # What the driver raises while the server is down: the handling and then the
        # recording for the relay both fail, so the message has to wait.
        tries.append(kwargs.get("failed", ""))
        if len(tries) <= 2:
            raise OperationalError("connection refused")
        return handle(self, *args, **kwargs)

    monkeypatch.setattr(AppConsumer, "_handle", database_down_twice)
    consume(lambda c: c.messages_read == 1)

    # Read again after the pause, and handled then by the consumer itself, once.
    assert len(tries) == 3
    assert "connection refused" in tries[1]
    assert tries[2] == ""
    assert effects(RECORD) == effects(FRAGILE) == [1]
    assert not Delivery.objects.exclude(status="delivered").exists()
    assert set(Delivery.objects.values_list("attempts", "last_error")) == {(1, "")}


def test_a_producer_failure_leaves_the_event_pending_until_the_broker_is_back(
    kafka_bus: str, cluster: MockCluster, settings: SettingsWrapper
) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"
    settings.KAFKA_PRODUCER_CONFIG = {"message.timeout.ms": 300, "log_level": 0}
    thing = uuid4()
    publish_committed(ThingHappened(thing_id=thing, n=1))
    before = timezone.now()

    Relay().drain()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "Message timed out" in delivery.last_error
    assert delivery.next_attempt_at > before + timedelta(seconds=0.4)
    assert OutboxEvent.objects.filter(aggregate_id=str(thing)).exists()

    # The broker is reachable again; the retry goes out, once.
    settings.KAFKA_BOOTSTRAP_SERVERS = cluster.bootstrap_servers
    settings.KAFKA_PRODUCER_CONFIG = {"log_level": 4}
    due_now()
    Relay().drain()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    [message] = read_topic(cluster.bootstrap_servers, f"{kafka_bus}bus_support", expect=1)
    assert headers(message)["event_id"] == str(OutboxEvent.objects.get().event_id)


def test_replay_republishes_the_slice_and_consumers_find_it_delivered(
    kafka_bus: str, cluster: MockCluster
) -> None:
    things = [uuid4() for _ in range(3)]
    publish_committed(*(ThingHappened(thing_id=t, n=i) for i, t in enumerate(things)))
    Relay().drain()
    consume(lambda c: c.messages_read == 3)

    call_command("replay_events", "--type", "bus_support.ThingHappened")
    assert set(Delivery.objects.filter(subscriber=PRODUCER).values_list("status")) == {("pending",)}
    Relay().drain()

    topic = f"{kafka_bus}bus_support"
    assert len(read_topic(cluster.bootstrap_servers, topic, expect=6)) == 6
    consume(lambda c: c.messages_read == 3)  # the copies, in the same group
    assert sorted(effects(RECORD)) == [0, 1, 2]
    assert_each_effect_once()

    # Replaying one subscriber by name runs it again where it is consumed.
    call_command("replay_events", "--subscriber", RECORD)
    Relay().drain()
    assert sorted(effects(RECORD)) == [0, 0, 1, 1, 2, 2]


def test_a_new_group_started_since_a_time_reads_only_what_was_produced_from_then(
    kafka_bus: str,
) -> None:
    older, newer = uuid4(), uuid4()
    publish_committed(ThingHappened(thing_id=older, n=1), ThingHappened(thing_id=newer, n=2))
    Relay().drain()
    time.sleep(0.01)
    since = timezone.now()
    time.sleep(0.01)
    publish_committed(ThingHappened(thing_id=older, n=3), ThingHappened(thing_id=newer, n=4))
    Relay().drain()

    consume(lambda c: c.messages_read == 4, start=StartAt(since=since))

    assert sorted(effects(RECORD)) == [3, 4]


def skipped_as_purged(caplog: pytest.LogCaptureFixture) -> int:
    """Deliveries the consumer reported skipping because they were handled and purged."""
    return sum(
        int(record.args[0])  # type: ignore[index]
        for record in caplog.records
        if record.name == "ecommerce.bus.kafka.consumer" and "then purged" in record.getMessage()
    )


def test_messages_read_again_after_their_events_were_purged_are_not_handled_again(
    kafka_bus: str, caplog: pytest.LogCaptureFixture
) -> None:
    thing = uuid4()
    long_ago = timezone.now() - timedelta(days=40)
    publish_committed(
        ThingHappened(thing_id=thing, n=1, occurred_at=long_ago),
        ThingHappened(thing_id=thing, n=2, occurred_at=long_ago),
    )
    Relay().drain()
    consume(lambda c: c.messages_read == 2)
    assert operations.purge_delivered(older_than_days=30) == 2
    assert not OutboxEvent.objects.exists()
    # A later event of the same thing, produced but not consumed yet.
    publish_committed(ThingHappened(thing_id=thing, n=3))
    Relay().drain()

    with caplog.at_level(logging.INFO, logger="ecommerce.bus.kafka.consumer"):
        consume(lambda c: c.messages_read == 3, start=StartAt(from_beginning=True))

    assert effects(RECORD) == [1, 2, 3]
    assert effects(FRAGILE) == [1, 2, 3]
    assert_each_effect_once()
    # Nothing of the purged events was written back; the new one was handled in order.
    assert sorted(Delivery.objects.values_list("subscriber", "sequence", "status")) == [
        (FRAGILE, 3, "delivered"),
        (NOOP, 3, "delivered"),
        (RECORD, 3, "delivered"),
        (PRODUCER, 3, "delivered"),
    ]
    assert skipped_as_purged(caplog) == 6  # two messages, three subscribers each
    # The marks name the consuming subscribers, not the producer: nothing reads back into it.
    assert sorted(PurgedUpTo.objects.values_list("subscriber", "aggregate_id", "sequence")) == [
        (FRAGILE, str(thing), 2),
        (NOOP, str(thing), 2),
        (RECORD, str(thing), 2),
    ]


def test_after_a_restore_from_a_backup_advanced_sequences_keep_new_events_from_being_skipped(
    kafka_bus: str,
) -> None:
    known, newer = uuid4(), uuid4()
    long_ago = timezone.now() - timedelta(days=40)
    publish_committed(
        ThingHappened(thing_id=known, n=1, occurred_at=long_ago),
        ThingHappened(thing_id=known, n=2, occurred_at=long_ago),
        ThingHappened(thing_id=newer, n=3, occurred_at=long_ago),
    )
    Relay().drain()
    consume(lambda c: c.messages_read == 3)
    assert operations.purge_delivered(older_than_days=30) == 3
    # The publishing side comes back from a backup taken after the known thing's first event
    # and before the newer thing existed. Other services keep what they saw (here: the marks).
    AggregateSequence.objects.filter(aggregate_id=str(known)).update(last_sequence=1)
    AggregateSequence.objects.filter(aggregate_id=str(newer)).delete()

    call_command("advance_sequences", stdout=StringIO())
    publish_committed(ThingHappened(thing_id=known, n=4), ThingHappened(thing_id=newer, n=5))
    Relay().drain()
    consume(lambda c: c.messages_read == 2)

    # Numbered 2 and 1 again, both would have been taken as handled and purged, and skipped.
    gap = operations.DEFAULT_SEQUENCE_GAP
    assert sorted(OutboxEvent.objects.values_list("sequence", flat=True)) == [1 + gap, 2 + gap]
    assert sorted(effects(RECORD)) == [1, 2, 3, 4, 5]
    assert sorted(effects(FRAGILE)) == [1, 2, 3, 4, 5]
    assert_each_effect_once()


def test_a_new_subscriber_reading_the_history_gets_the_events_purged_for_the_others(
    kafka_bus: str, caplog: pytest.LogCaptureFixture
) -> None:
    thing = uuid4()
    long_ago = timezone.now() - timedelta(days=40)
    publish_committed(
        ThingHappened(thing_id=thing, n=1, occurred_at=long_ago),
        ThingHappened(thing_id=thing, n=2, occurred_at=long_ago),
    )
    Relay().drain()
    consume(lambda c: c.messages_read == 2)
    assert operations.purge_delivered(older_than_days=30) == 2

    def newcomer(event: ThingHappened) -> None:
        Effect.objects.create(
            subscriber=NEWCOMER,
            event_id=event.event_id,
            aggregate_id=str(event.thing_id),
            n=event.n,
        )

    subscribe(ThingHappened, newcomer, name=NEWCOMER)
    try:
        with caplog.at_level(logging.INFO, logger="ecommerce.bus.kafka.consumer"):
            consume(lambda c: c.messages_read == 2, start=StartAt(from_beginning=True))
    finally:
        unsubscribe(NEWCOMER)

    assert effects(NEWCOMER) == [1, 2]
    assert effects(RECORD) == [1, 2]
    assert_each_effect_once()
    # The events are back in the outbox, delivered to the newcomer alone.
    assert sorted(Delivery.objects.values_list("subscriber", "sequence", "status")) == [
        (NEWCOMER, 1, "delivered"),
        (NEWCOMER, 2, "delivered"),
    ]
    assert skipped_as_purged(caplog) == 6


@pytest.mark.postgres
def test_a_consumer_process_killed_mid_stream_loses_and_doubles_nothing(
    kafka_bus: str, cluster: MockCluster
) -> None:
    things = [uuid4() for _ in range(6)]
    events = 40
    publish_committed(
        *(ThingHappened(thing_id=things[i % 6], n=i, sleep_ms=40) for i in range(events))
    )
    Relay().drain()
    env = {
        "EVENT_TRANSPORT": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka_bus,
        # The classic protocol with a short session, so the killed member is noticed soon.
        "KAFKA_CONSUMER_CONFIG": json.dumps(
            {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "log_level": 0}
        ),
    }
    args = ("consume_events", "--app", "bus_support", "--poll", "0.1")
    recorded = Effect.objects.filter(subscriber=RECORD)

    first = spawn_manage(*args, "--from-beginning", **env)
    assert wait_until(lambda: recorded.count() >= 10, timeout=30)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert recorded.count() < events

    second = spawn_manage(*args, **env)
    assert wait_until(lambda: recorded.count() == events, timeout=60)
    assert wait_until(
        lambda: Effect.objects.filter(subscriber=FRAGILE).count() == events, timeout=10
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=15) == 0

    assert sorted(effects(RECORD)) == list(range(events))
    assert_each_effect_once()
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_a_message_that_is_not_an_outbox_event_is_skipped(
    kafka_bus: str, cluster: MockCluster
) -> None:
    stranger = Producer({"bootstrap.servers": cluster.bootstrap_servers})
    stranger.produce(f"{kafka_bus}bus_support", key=b"x", value=b"not an event")
    stranger.flush(10)
    publish_committed(ThingHappened(thing_id=uuid4(), n=5))
    Relay().drain()

    consume(lambda c: c.messages_read == 2)

    assert effects(RECORD) == [5]


def test_consume_events_names_the_apps_it_can_run(kafka_bus: str) -> None:
    with pytest.raises(CommandError, match="no subscriber is named shipping"):
        call_command("consume_events", "--app", "shipping")


def test_a_dry_run_replay_under_kafka_shows_the_events_to_republish(
    kafka_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_committed(ThingHappened(thing_id=uuid4()), ThingHappened(thing_id=uuid4()))

    call_command("replay_events", "--dry-run")

    out = capsys.readouterr().out
    assert "2  bus_support.ThingHappened            -> kafka.producer" in out
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.postgres
def test_the_consumer_makes_its_work_durable_before_it_commits_offsets(
    kafka_bus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivered mark commits without waiting for the disk; Kafka must not hear that a
    message is done before its effects are on disk."""
    from ecommerce.bus.kafka import consumer as consumer_module

    steps: list[str] = []
    real_flush = consumer_module.flush_wal

    def flush() -> None:
        real_flush()
        steps.append("flush")

    class RecordingConsumer(consumer_module.Consumer):  # type: ignore[misc]
        def commit(self, *args: object, **kwargs: object) -> object:
            steps.append("commit")
            return super().commit(*args, **kwargs)

    monkeypatch.setattr(consumer_module, "flush_wal", flush)
    monkeypatch.setattr(consumer_module, "Consumer", RecordingConsumer)
    publish_committed(ThingHappened(thing_id=uuid4(), n=1), ThingHappened(thing_id=uuid4(), n=2))
    Relay().drain()

    consume(lambda c: c.messages_read == 2)

    assert "commit" in steps
    assert all(steps[i - 1] == "flush" for i, step in enumerate(steps) if step == "commit"), steps
    assert sorted(effects(RECORD)) == [1, 2]


@pytest.mark.postgres
def test_flush_wal_puts_every_earlier_commit_on_disk() -> None:
    from django.db import connection

    from ecommerce.bus.db import flush_wal

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        Poison.objects.create(aggregate_id="async")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        written = cursor.fetchone()[0]  # type: ignore[index]

    flush_wal()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [written])
        assert cursor.fetchone()[0] is True  # type: ignore[index]
