"""``consume_events --app <label>``: one app's subscribers as one Kafka consumer group.

For each message, in one database transaction: the event row is taken from the outbox table,
or inserted there when the event was published by another service's database (its event id
is unique, so it is inserted once); then, for each of the app's subscribers of that event
type, its delivery row (unique per event and subscriber, the same row the in-process
transport writes) is created and the handler runs through the relay's own delivery code.
Only after that transaction commits, and is on disk, is the message's offset committed (the
relay's delivered mark lets the transaction commit without waiting for the disk, so a batch
ends with ``flush_wal``). A message read again (a consumer that died before committing, a
rebalance, a replay) finds the delivery row and does nothing. Once the purge has deleted the
event and its delivery rows, the subscriber's purged-up-to mark for the aggregate says the
same (``PurgedUpTo``): the message is skipped, and nothing of it is written again.

A handler that fails does not hold up the partition: its delivery row is left pending with
the relay's backoff (or dead after ``BUS_MAX_ATTEMPTS``), exactly as if the relay had tried
it, and the relay of the consuming service retries it. Later events of the same aggregate
for the same subscriber are recorded as pending behind it instead of being handled, so the
relay delivers them after it, in order; other aggregates and subscribers carry on. A message
whose transaction fails as a whole (its writes break a constraint checked at commit) has its
deliveries recorded pending instead, in a transaction of their own, for the relay (one by one
when they fail together). Only a message that cannot even be recorded holds up the partition
(the database is out of reach): it is read again after a pause.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ecommerce.bus.conf import KafkaSettings, bus_settings, kafka_settings
from ecommerce.bus.db import flush_wal, lease_token_value
from ecommerce.bus.events import event_class
from ecommerce.bus.kafka.wire import BadMessage, IncomingEvent, read_message
from ecommerce.bus.models import OutboxEvent
from ecommerce.bus.registry import Subscription, subscriptions
from ecommerce.bus.relay import Claimed, Relay, describe

logger = logging.getLogger(__name__)


class NoSubscribers(LookupError):
    """The app label names no subscriber."""


@dataclass(frozen=True, slots=True)
class StartAt:
    """Where to start reading, instead of the group's committed offsets.

    Without either, a partition is read from its committed offset, or from its beginning
    where the group has none (a new group, a partition it had not read yet, a topic created
    after it started): starting at the end would lose what was produced before, and what
    was handled already is found delivered, or purged. ``from_beginning`` re-reads every
    partition from its start, ``since`` from the first message produced at or after that
    time (a new group that should not see older events, a database restored from a backup).
    """

    from_beginning: bool = False
    since: datetime | None = None


def consumer_config(kafka: KafkaSettings, group_id: str) -> dict[str, Any]:
    return {
        "auto.offset.reset": "earliest",
        **kafka.consumer_config,
        "bootstrap.servers": kafka.bootstrap_servers,
        "group.id": group_id,
        # Not overridable: an offset is committed only after its transaction committed.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    }


_RECORD_DELIVERIES_SQL = """
    INSERT INTO bus_delivery (event_id, subscriber, aggregate_type, aggregate_id, sequence,
                              status, attempts, next_attempt_at, leased_until, lease_token,
                              last_error)
    VALUES {values}
    ON CONFLICT (event_id, subscriber) DO NOTHING
    RETURNING id, subscriber
"""

# Where a message finds each of the app's subscribers of its event, in one statement:
# "seen", it has the event's delivery row (handled, or pending or dead in the relay's
# hands); "behind", an earlier event of the aggregate is pending or dead for it; "purged",
# its deliveries of the aggregate were purged up to this event or past it, so it handled
# this one. (No event row yet: nothing is seen, the event id is NULL.)
_STANDING_SQL = """
    SELECT subscriber, 'seen' FROM bus_delivery
     WHERE event_id = %s AND subscriber IN ({names})
    UNION ALL
    SELECT DISTINCT subscriber, 'behind' FROM bus_delivery
     WHERE subscriber IN ({names}) AND aggregate_type = %s AND aggregate_id = %s
       AND sequence < %s AND status IN ('pending', 'dead')
    UNION ALL
    SELECT subscriber, 'purged' FROM bus_purged_up_to
     WHERE subscriber IN ({names}) AND aggregate_type = %s AND aggregate_id = %s
       AND sequence >= %s
"""


class AppConsumer:
    def __init__(
        self,
        app_label: str,
        *,
        group_id: str | None = None,
        start: StartAt | None = None,
        batch_size: int | None = None,
    ) -> None:
        mine = [s for s in subscriptions() if s.name.startswith(f"{app_label}.")]
        if not mine:
            labels = sorted({s.name.split(".", 1)[0] for s in subscriptions()})
            raise NoSubscribers(
                f"no subscriber is named {app_label}.* (apps with subscribers: "
                f"{', '.join(labels) or 'none'})"
            )
        self.kafka = kafka_settings()
        self.by_event_type: dict[str, list[Subscription]] = {}
        for subscription in mine:
            self.by_event_type.setdefault(subscription.event_type, []).append(subscription)
        self.topics = sorted(
            {self.kafka.topic(event_class(t).aggregate_type) for t in self.by_event_type}
        )
        self.group_id = group_id or f"{self.kafka.topic_prefix}{app_label}"
        self.start = start or StartAt()
        self.batch_size = batch_size or bus_settings().batch_size
        self.relay = Relay()
        self.config = consumer_config(self.kafka, self.group_id)
        # The next generation protocol (KIP-848) and cooperative assignors hand out partitions
        # incrementally; the classic eager one hands out the whole assignment.
        strategy = str(self.config.get("partition.assignment.strategy", ""))
        protocol = self.config.get("group.protocol", "classic")
        self.incremental = protocol == "consumer" or "cooperative" in strategy
        # Partitions read from their start because of --since, still skipping older messages.
        self._skipping: set[tuple[str, int]] = set()
        # Partitions already placed at the start asked for; a rebalance that hands one back
        # later resumes from the committed offset, not from the start again.
        self._positioned: set[tuple[str, int]] = set()
        self.messages_read = 0  # finished: handled, seen before, or not for this app

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, should_stop: Callable[[], bool], poll_seconds: float | None = None) -> None:
        """Consume until ``should_stop()``; the message in hand is finished and committed."""
        poll = poll_seconds if poll_seconds is not None else bus_settings().poll_seconds
        consumer = Consumer(self.config)
        consumer.subscribe(self.topics, on_assign=self._on_assign)
        try:
            while not should_stop():
                self._consume_batch(consumer, should_stop, poll)
        finally:
            consumer.close()

    def _consume_batch(
        self, consumer: Consumer, should_stop: Callable[[], bool], poll: float
    ) -> None:
        done: dict[tuple[str, int], int] = {}
        rewound: set[tuple[str, int]] = set()
        purged = 0  # deliveries skipped as handled and purged: messages read again
        for message in self._next_batch(consumer, poll):
            error = message.error()
            if error is not None:
                self._log_error(error)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            # Set on every message that is not an error.
            assert topic is not None
            assert partition is not None
            assert offset is not None
            place = (topic, partition)
            if place in rewound:
                continue  # read again after the failure below
            try:
                purged += self._handle(place, message)
            except Exception as exc:
                # Nothing of this message was committed. Either the database is out of reach,
                # or the handlers' writes broke a constraint checked only at commit (a
                # deferred foreign key), which the same transaction would break on every try.
                # Hand its deliveries to the relay, which runs each handler in a transaction
                # of its own with backoff, dead after the last attempt.
                logger.warning(
                    "handling %s[%s]@%s failed; leaving it to the relay: %s",
                    topic,
                    partition,
                    offset,
                    exc,
                )
                connection.close_if_unusable_or_obsolete()
                try:
                    purged += self._handle(place, message, failed=describe(exc))
                except Exception:
                    # The database is out of reach: read the message again after a pause;
                    # its partition waits for it.
                    logger.exception(
                        "consuming %s[%s]@%s failed; retrying", topic, partition, offset
                    )
                    connection.close()
                    consumer.seek(TopicPartition(topic, partition, offset))
                    rewound.add(place)
                    continue
            done[place] = offset + 1
            self.messages_read += 1
            if should_stop():
                break  # the rest of the batch is read again by whoever consumes next
        if purged:
            logger.info(
                "skipped %d deliveries of messages read again: handled, then purged", purged
            )
        if done:
            # Durable before Kafka hears that these messages are done: a database crash now
            # must not lose work whose messages would never be read again.
            flush_wal()
            try:
                consumer.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in done.items()],
                    asynchronous=False,
                )
            except KafkaException as exc:
                # A rebalance took the partition away: its new owner reads those messages
                # again and finds them delivered.
                logger.warning("committing offsets failed: %s", exc)
        if rewound and not should_stop():
            time.sleep(poll)

    def _next_batch(self, consumer: Consumer, poll: float) -> list[Message]:
        """Wait up to ``poll`` for a message, then take what else is there already.

        (``consume`` alone waits for a full batch or the whole timeout, which would delay a
        lone event by the poll interval.)
        """
        first = consumer.poll(poll)
        if first is None:
            return []
        if self.batch_size == 1:
            return [first]
        return [first, *consumer.consume(num_messages=self.batch_size - 1, timeout=0)]

    @staticmethod
    def _log_error(error: KafkaError) -> None:
        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            logger.warning("a subscribed topic does not exist yet: %s", error.str())
        else:
            logger.error("kafka consumer error: %s", error.str())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Re-read from the start, or from ``since``: once per partition and process."""
        if not (self.start.from_beginning or self.start.since):
            return  # from the committed offsets (from the beginning where there are none)
        new = [tp for tp in partitions if (tp.topic, tp.partition) not in self._positioned]
        self._positioned.update((tp.topic, tp.partition) for tp in new)
        if self.start.since is None:
            for tp in new:
                tp.offset = OFFSET_BEGINNING
        elif new:
            since_ms = int(self.start.since.timestamp() * 1000)
            found = consumer.offsets_for_times(
                [TopicPartition(tp.topic, tp.partition, since_ms) for tp in new], timeout=10
            )
            positions = {(tp.topic, tp.partition): tp.offset for tp in found}
            for tp in new:
                position = positions[(tp.topic, tp.partition)]
                if position >= 0:
                    tp.offset = position
                else:
                    # No offset for that time: a broker says so when every message is older,
                    # and some (librdkafka's mock cluster) for any time. Read the partition
                    # from its start and skip what is older; that is right in both cases.
                    tp.offset = OFFSET_BEGINNING
                    self._skipping.add((tp.topic, tp.partition))
        if self.incremental:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    # -- one message --------------------------------------------------------------------------

    def _handle(self, place: tuple[str, int], message: Message, *, failed: str = "") -> int:
        """Handle one message; returns how many of its deliveries were skipped as purged.

        ``failed``: why handling it failed before. Its deliveries are then only recorded,
        pending, for the relay, with that error.
        """
        if place in self._skipping:
            assert self.start.since is not None
            if message.timestamp()[1] < int(self.start.since.timestamp() * 1000):
                return 0
            self._skipping.discard(place)
        try:
            incoming = read_message(message.key(), message.value(), message.headers())
        except BadMessage as exc:
            # Not an outbox event; it can never be handled. Say so and move on.
            logger.error("skipping a message on %s@%s: %s", place, message.offset(), exc)
            return 0
        mine = self.by_event_type.get(incoming.event_type)
        if not mine:
            return 0  # another event type on the same topic: not for this app
        names = [s.name for s in mine]
        with transaction.atomic():
            # Here already when this database published the event, or consumed it before.
            row = OutboxEvent.objects.filter(event_id=incoming.event_id).first()
            seen, behind, purged = self._standing(incoming, row, names)
            # Seen or purged: handled already, or in the relay's hands. Nothing to do.
            new = [name for name in names if name not in seen and name not in purged]
            if new:
                row = row or self._insert_event_row(incoming)
                if failed:
                    self._record_deliveries(row, new, set(new), uuid4(), last_error=failed)
                else:
                    self._deliver(row, new, behind)
        return len(purged - seen)

    @staticmethod
    def _standing(
        incoming: IncomingEvent, row: OutboxEvent | None, names: list[str]
    ) -> tuple[set[str], set[str], set[str]]:
        """Of ``names``: those seen, those behind an earlier event, those purged past it
        (see ``_STANDING_SQL``)."""
        aggregate: list[Any] = [incoming.aggregate_type, incoming.aggregate_id, incoming.sequence]
        sql = _STANDING_SQL.format(names=", ".join(["%s"] * len(names)))
        params = [row.pk if row else None, *names, *names, *aggregate, *names, *aggregate]
        found: dict[str, set[str]] = {"seen": set(), "behind": set(), "purged": set()}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for subscriber, standing in cursor.fetchall():
                found[standing].add(subscriber)
        return found["seen"], found["behind"], found["purged"]

    @staticmethod
    def _insert_event_row(incoming: IncomingEvent) -> OutboxEvent:
        """The outbox row of an event published by another service's database (or purged
        here since, and wanted by a subscriber that had not handled it)."""
        try:
            with transaction.atomic():
                row = incoming.as_row()
                row.save(force_insert=True)
                return row
        except IntegrityError:
            # Another app's consumer inserted it just now. (If the event id is not there,
            # this database published another event at the same place of the same aggregate:
            # an aggregate type must belong to one service, and this raises.)
            return OutboxEvent.objects.get(event_id=incoming.event_id)

    def _deliver(self, row: OutboxEvent, subscribers: list[str], behind: set[str]) -> None:
        """Record a delivery row per subscriber, then run the handlers of those not behind an
        earlier event of the aggregate."""
        token = uuid4()
        recorded = self._record_deliveries(row, subscribers, behind, token)
        claimed = [
            Claimed(id=pk, event_pk=row.pk, subscriber=subscriber, attempts=1, lease_token=token)
            for subscriber, pk in recorded.items()
            # Not recorded: the consumer that had this partition before a rebalance has it.
            # Behind an earlier event: the relay delivers it after that one, in order.
            if subscriber not in behind
        ]
        # The relay's own path, inside this message's transaction: mark delivered and run the
        # handlers together, or each on its own where one fails, recording the failure with
        # backoff (dead after the last attempt).
        self.relay.deliver(claimed, {row.pk: row})

    def _record_deliveries(
        self,
        row: OutboxEvent,
        subscribers: list[str],
        waiting: set[str],
        token: UUID,
        *,
        last_error: str = "",
    ) -> dict[str, int]:
        """Insert the delivery rows in one statement; the ids of those this call inserted.

        One handled now is recorded as claimed by us, as the relay's claim would; one in
        ``waiting``, as pending and due for the relay. A row another consumer inserted first
        (a rebalance) is left alone: the insert waits for that consumer's transaction and then
        skips the row.
        """
        ops, now = connection.ops, timezone.now()
        token_value = lease_token_value(token)
        leased_until = ops.adapt_datetimefield_value(now + self.relay.lease)
        values, params = [], []
        for subscriber in subscribers:
            waits = subscriber in waiting
            values.append("(%s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s)")
            params += [
                row.pk,
                subscriber,
                row.aggregate_type,
                row.aggregate_id,
                row.sequence,
                0 if waits else 1,
                ops.adapt_datetimefield_value(now),
                None if waits else leased_until,
                None if waits else token_value,
                last_error,
            ]
        with connection.cursor() as cursor:
            cursor.execute(_RECORD_DELIVERIES_SQL.format(values=", ".join(values)), params)
            return {subscriber: pk for pk, subscriber in cursor.fetchall()}
