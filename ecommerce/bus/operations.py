"""What operators do with the bus: look at it, retry or discard dead letters, replay, purge,
and number events past the ones a restored backup forgot.

The management commands, the admin actions, the health endpoint and the scheduled tasks all
call these functions, so each behaves the same wherever it is started from.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    PositiveBigIntegerField,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone

from ecommerce.bus.conf import KAFKA, KAFKA_PRODUCER, bus_settings, transport
from ecommerce.bus.events import aggregate_types, event_types
from ecommerce.bus.models import (
    MAX_SEQUENCE,
    AggregateSequence,
    Delivery,
    OutboxEvent,
    SequenceFloor,
)
from ecommerce.bus.registry import subscribers_of, subscription, subscriptions
from ecommerce.common.db import in_batches, in_pages

PENDING, DELIVERED = Delivery.Status.PENDING, Delivery.Status.DELIVERED
DEAD, DISCARDED = Delivery.Status.DEAD, Delivery.Status.DISCARDED
CHUNK = 1000


class UnknownName(ValueError):
    """An operator named a subscriber or event type the bus does not know."""


# -- looking --------------------------------------------------------------------------------


def backlog() -> dict[str, Any]:
    """The health endpoint's numbers: pending and dead deliveries over all subscribers, and
    how long the delivery due the longest has waited since it became due (published, its
    retry's backoff over, or replayed), in seconds (``None``: none is due). That one grows
    while no relay runs; a relay keeping up holds it under a second or so."""
    now = timezone.now()
    counts = (
        Delivery.objects.filter(status__in=[PENDING, DEAD]).values("status").annotate(n=Count("id"))
    )
    by_status = {row["status"]: row["n"] for row in counts}
    oldest_due = Delivery.objects.filter(status=PENDING, next_attempt_at__lte=now).aggregate(
        at=Min("next_attempt_at")
    )["at"]
    return {
        "pending": by_status.get(PENDING, 0),
        "dead": by_status.get(DEAD, 0),
        "oldest_due_seconds": round((now - oldest_due).total_seconds(), 1) if oldest_due else None,
    }


@dataclass(frozen=True, slots=True)
class SubscriberStatus:
    subscriber: str
    pending: int
    oldest_pending_seconds: float | None
    dead: int
    delivered_last_minute: int


def status() -> list[SubscriberStatus]:
    now = timezone.now()
    rows = (
        Delivery.objects.filter(
            Q(status__in=[PENDING, DEAD])
            | Q(status=DELIVERED, delivered_at__gte=now - timedelta(minutes=1))
        )
        .values("subscriber")
        .annotate(
            pending=Count("id", filter=Q(status=PENDING)),
            dead=Count("id", filter=Q(status=DEAD)),
            recent=Count("id", filter=Q(status=DELIVERED)),
            oldest=Min("event__occurred_at", filter=Q(status=PENDING)),
        )
    )
    found: dict[str, dict[str, Any]] = {row["subscriber"]: dict(row) for row in rows}
    names = sorted({s.name for s in subscriptions()} | set(found))
    result = []
    for name in names:
        row = found.get(name, {})
        oldest = row.get("oldest")
        result.append(
            SubscriberStatus(
                subscriber=name,
                pending=row.get("pending", 0),
                oldest_pending_seconds=(now - oldest).total_seconds() if oldest else None,
                dead=row.get("dead", 0),
                delivered_last_minute=row.get("recent", 0),
            )
        )
    return result


# -- dead letters ---------------------------------------------------------------------------


def dead_letters(
    *, subscriber: str | None = None, event_type: str | None = None
) -> QuerySet[Delivery]:
    qs = Delivery.objects.filter(status=DEAD).select_related("event").order_by("id")
    if subscriber:
        qs = qs.filter(subscriber=subscriber)
    if event_type:
        qs = qs.filter(event__event_type=event_type)
    return qs


def dead_letters_retry(ids: Iterable[int]) -> int:
    """Give dead deliveries a fresh set of attempts, due now. Returns how many."""
    count = _update_dead(
        ids,
        status=PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        leased_until=None,
        lease_token=None,
    )
    if count:
        wake_relays()
    return count


def dead_letters_discard(ids: Iterable[int]) -> int:
    """Give up on dead deliveries for good; they stop blocking their aggregate."""
    return _update_dead(ids, status=DISCARDED)


@transaction.atomic
def _update_dead(ids: Iterable[int], **values: Any) -> int:
    """Update those of ``ids`` still dead, all or none, a bounded batch per statement."""
    return sum(
        Delivery.objects.filter(pk__in=batch, status=DEAD).update(**values)
        for batch in in_batches(list(ids))
    )


# -- replay ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplaySlice:
    subscriber: str | None = None
    event_type: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def validate(self) -> None:
        if self.subscriber is not None:
            try:
                subscription(self.subscriber)
            except LookupError:
                known = ", ".join(s.name for s in subscriptions()) or "none"
                raise UnknownName(
                    f"unknown subscriber {self.subscriber!r} (known: {known})"
                ) from None
        if self.event_type is not None and self.event_type not in event_types():
            known = ", ".join(sorted(event_types())) or "none"
            raise UnknownName(f"unknown event type {self.event_type!r} (known: {known})")
        declared = aggregate_types()
        if self.aggregate_type is not None and self.aggregate_type not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise UnknownName(f"unknown aggregate type {self.aggregate_type!r} (known: {known})")
        if (
            self.subscriber
            and self.event_type
            and self.event_type != subscription(self.subscriber).event_type
        ):
            raise UnknownName(f"{self.subscriber} does not subscribe to {self.event_type}")

    @property
    def republishes(self) -> bool:
        """With the kafka transport, a replay for no one subscriber re-publishes to Kafka.

        Only events this database produced to Kafka (those with a producer delivery) are
        sent again; consumers find them delivered, so it is for topics and new consumer
        groups. To run a subscriber again, replay it by name where it is consumed.
        """
        return self.subscriber is None and transport() == KAFKA

    def events(self) -> QuerySet[OutboxEvent]:
        qs = OutboxEvent.objects.all()
        if self.republishes:
            qs = qs.filter(
                Exists(Delivery.objects.filter(event=OuterRef("pk"), subscriber=KAFKA_PRODUCER))
            )
        if self.event_type:
            qs = qs.filter(event_type=self.event_type)
        elif self.subscriber:
            qs = qs.filter(event_type=subscription(self.subscriber).event_type)
        if self.aggregate_type:
            qs = qs.filter(aggregate_type=self.aggregate_type)
        if self.aggregate_id:
            qs = qs.filter(aggregate_id=self.aggregate_id)
        if self.since:
            qs = qs.filter(occurred_at__gte=self.since)
        if self.until:
            qs = qs.filter(occurred_at__lt=self.until)
        return qs.order_by("id")

    def subscribers_for(self, event_type: str) -> list[str]:
        if self.republishes:
            return [KAFKA_PRODUCER]
        names = [s.name for s in subscribers_of(event_type)]
        return [n for n in names if n == self.subscriber] if self.subscriber else names


def replay_plan(selection: ReplaySlice) -> Counter[tuple[str, str]]:
    """What a replay would re-deliver: counts by (event type, subscriber)."""
    selection.validate()
    plan: Counter[tuple[str, str]] = Counter()
    # Without its ordering: ordered by id, the GROUP BY would take the id too, one row per event.
    for row in selection.events().order_by().values("event_type").annotate(n=Count("id")):
        for name in selection.subscribers_for(row["event_type"]):
            plan[(row["event_type"], name)] += row["n"]
    return plan


def replay(selection: ReplaySlice, *, progress: Any = None) -> int:
    """Re-deliver the slice: each chosen subscriber's delivery goes back to pending.

    Deliveries keep their per-aggregate sequence, so the replay runs in the original order;
    a subscriber added after an event was published gets a delivery for it now. Returns the
    number of deliveries queued. ``progress`` is called with each chunk's size.
    """
    selection.validate()
    queued = 0
    columns = ("event_type", "aggregate_type", "aggregate_id", "sequence")
    for chunk in in_pages(selection.events(), *columns, size=CHUNK):
        with transaction.atomic():
            queued += _requeue_chunk(selection, chunk)
        if progress:
            progress(len(chunk))
    if queued:
        wake_relays()
    return queued


def _requeue_chunk(selection: ReplaySlice, chunk: list[tuple[Any, ...]]) -> int:
    now = timezone.now()
    wanted = [
        (pk, name, agg_type, agg_id, seq)
        for pk, etype, agg_type, agg_id, seq in chunk
        for name in selection.subscribers_for(etype)
    ]
    if not wanted:
        return 0
    Delivery.objects.bulk_create(
        [
            Delivery(
                event_id=pk,
                subscriber=name,
                aggregate_type=agg_type,
                aggregate_id=agg_id,
                sequence=seq,
                next_attempt_at=now,
            )
            for pk, name, agg_type, agg_id, seq in wanted
        ],
        ignore_conflicts=True,
    )
    names = {w[1] for w in wanted}
    return Delivery.objects.filter(event_id__in=[c[0] for c in chunk], subscriber__in=names).update(
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        leased_until=None,
        lease_token=None,
        last_error="",
    )


def wake_relays() -> None:
    """Tell sleeping relays there is work (PostgreSQL); elsewhere they find it by polling."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify('bus_events', '')")


# -- housekeeping (scheduled) -------------------------------------------------------------------


# Before the purge deletes deliveries: per subscriber and aggregate, the greatest sequence
# among them, unless a greater one is recorded already. Not for the Kafka producer's
# deliveries: no one reads a message back into the producer.
_RECORD_PURGED_SQL = """
    INSERT INTO bus_purged_up_to (subscriber, aggregate_type, aggregate_id, sequence)
    SELECT subscriber, aggregate_type, aggregate_id, MAX(sequence)
      FROM bus_delivery
     WHERE subscriber <> %s AND event_id IN ({ids})
     GROUP BY subscriber, aggregate_type, aggregate_id
    ON CONFLICT (subscriber, aggregate_type, aggregate_id)
    DO UPDATE SET sequence = excluded.sequence
     WHERE excluded.sequence > bus_purged_up_to.sequence
"""


def purge_delivered(*, older_than_days: int | None = None) -> int:
    """Delete events older than the retention whose deliveries are all finished.

    What the deleted deliveries said, that these events were handled, is kept in short in
    ``PurgedUpTo``, in the same transaction, for Kafka consumers that read them again.
    """
    days = bus_settings().retention_days if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    unfinished = Delivery.objects.filter(event=OuterRef("pk"), status__in=[PENDING, DEAD])
    purged = 0
    # By pages of ids: old events kept (a dead delivery) are looked at once, not again by
    # every batch.
    finished = OutboxEvent.objects.filter(occurred_at__lt=cutoff).exclude(Exists(unfinished))
    for page in in_pages(finished, size=CHUNK):
        ids = [pk for (pk,) in page]
        with transaction.atomic():
            # Lock the events: a delivery row for one of them inserted from now on (a replay
            # for a new subscriber, a consumer reading the event again) waits for this
            # transaction and then fails, its event gone. So the rows recorded below are the
            # rows deleted.
            locked = OutboxEvent.objects.select_for_update().filter(id__in=ids).order_by("id")
            list(locked.values_list("id", flat=True))
            # Lock their deliveries and look again: a replay since the pick above may have sent
            # some back to pending, and those events must stay. A replay from now on waits.
            deliveries = Delivery.objects.select_for_update().filter(event_id__in=ids)
            replayed = {
                event
                for event, status in deliveries.values_list("event_id", "status")
                if status in (PENDING, DEAD)
            }
            ids = [pk for pk in ids if pk not in replayed]
            if not ids:
                continue
            _record_purged(ids)
            Delivery.objects.filter(event_id__in=ids).delete()
            purged += OutboxEvent.objects.filter(id__in=ids).delete()[1].get("bus.OutboxEvent", 0)
    return purged


def _record_purged(event_ids: list[int]) -> None:
    """Raise each subscriber's purged-up-to mark to the deliveries of these events."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_PURGED_SQL.format(ids=", ".join(["%s"] * len(event_ids))),
            [KAFKA_PRODUCER, *event_ids],
        )


def requeue_expired_leases() -> int:
    """Clear leases that ran out (their relay died), so the deliveries show as plainly due."""
    return Delivery.objects.filter(status=PENDING, leased_until__lt=timezone.now()).update(
        leased_until=None, lease_token=None
    )


# -- after a restore ----------------------------------------------------------------------------

# Beyond the events any one aggregate publishes between a backup and its restore, in any shop;
# a PositiveBigIntegerField holds nine billion such gaps.
DEFAULT_SEQUENCE_GAP = 1_000_000_000


class InvalidGap(ValueError):
    """An operator asked to move the sequences by less than one, or past what they hold."""


@dataclass(frozen=True, slots=True)
class SequencesAdvanced:
    aggregates: int  # counters raised
    floor: int  # a new aggregate's first event comes after this


def advance_sequences(*, by: int = DEFAULT_SEQUENCE_GAP) -> SequencesAdvanced:
    """Number every event published from now on past those handed out before, by ``by``.

    For a database restored from a backup, before the shop runs again: its counters are back
    where the backup left them, while the events published after the backup, lost here, went
    out to other services (Kafka transport), which keep their numbers. An event numbered
    again at the same place of its aggregate would meet the old one there: a consumer would
    take it as handled and purged (and skip it), or as a conflicting event (and stop).
    Raises every aggregate's counter by ``by`` and the floor that new aggregates start after,
    so ``by`` must exceed the events any one aggregate published after the backup. Gaps in
    the numbers are harmless: subscribers need them in order, not consecutive.
    """
    if by < 1:
        raise InvalidGap(f"the sequences can only move forward (by at least 1, not {by})")
    with transaction.atomic():
        floor, _ = SequenceFloor.objects.select_for_update().get_or_create(pk=1)
        counters = AggregateSequence.objects.aggregate(n=Max("last_sequence"))["n"] or 0
        highest = max(counters, floor.floor)
        if highest + by > MAX_SEQUENCE:
            raise InvalidGap(
                f"moving by {by} would take sequences past {MAX_SEQUENCE}, the most they hold "
                f"(the highest now is {highest})"
            )
        floor.floor += by
        floor.save(update_fields=["floor"])
        # Typed: a bare int is bound as a 32-bit integer on PostgreSQL, and a gap past 2**31
        # would wrap (and could move the counters back).
        gap = Value(by, output_field=PositiveBigIntegerField())
        raised = AggregateSequence.objects.update(last_sequence=F("last_sequence") + gap)
    return SequencesAdvanced(aggregates=raised, floor=floor.floor)
