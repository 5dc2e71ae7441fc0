"""The outbox and its deliveries.

``OutboxEvent`` follows the Debezium outbox convention. ``Delivery`` is one row per (event,
subscriber): its delivery state, and, once ``delivered``, the inbox record that makes a
second delivery of the same event to the same subscriber a no-op. ``PurgedUpTo`` keeps that
record, in short, for the deliveries the purge deleted.
"""

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, editable=False)
    event_type = models.CharField(max_length=150)
    event_version = models.PositiveSmallIntegerField(default=1)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    # Position of this event among its aggregate's events, in commit order (see publishing).
    sequence = models.PositiveBigIntegerField()
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    correlation_id = models.UUIDField()
    causation_id = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "bus_event"
        verbose_name = "event"
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                name="bus_event_aggregate_seq",
            ),
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="bus_event_occurred"),
            models.Index(fields=["event_type", "occurred_at"], name="bus_event_type_occurred"),
            models.Index(fields=["correlation_id"], name="bus_event_correlation"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id} #{self.sequence}"


class AggregateSequence(models.Model):
    """The last sequence number handed out per aggregate.

    Publishing bumps this row, and the row lock it takes is held until commit, so two
    transactions publishing about the same aggregate get their numbers in commit order.
    """

    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    last_sequence = models.PositiveBigIntegerField()

    class Meta:
        db_table = "bus_aggregate_sequence"
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id"], name="bus_aggregate_sequence_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type}:{self.aggregate_id} at {self.last_sequence}"


# The most a sequence column (a 64-bit integer) holds.
MAX_SEQUENCE = 2**63 - 1


class SequenceFloor(models.Model):
    """The number an aggregate's first event comes after (0 until an operator raises it).

    One row at most (id 1), written by ``advance_sequences``: a database restored from a
    backup has counters behind the numbers handed out after the backup, which other services
    have seen; raising every counter and this floor puts new events after all of them.
    """

    floor = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "bus_sequence_floor"

    def __str__(self) -> str:
        return f"new aggregates start after {self.floor}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"
        DISCARDED = "discarded"

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=150)
    # Copied from the event so the relay's "is an earlier event of this aggregate still
    # undelivered?" check is one index probe.
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    sequence = models.PositiveBigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "bus_delivery"
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="bus_delivery_once"),
            # A lease is held only on a pending delivery: every way out of pending clears it.
            # The relay's shared "delivered" mark relies on this (ecommerce/bus/relay.py).
            models.CheckConstraint(
                condition=Q(lease_token__isnull=True) | Q(status="pending"),
                name="bus_delivery_lease_only_pending",
            ),
        ]
        indexes = [
            # The relay's claim: due pending deliveries, oldest first. Partial, so it stays
            # small however many delivered rows pile up.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="bus_delivery_due",
                condition=Q(status="pending"),
            ),
            # Per-aggregate order: does this subscriber have an earlier undelivered event?
            models.Index(
                fields=["subscriber", "aggregate_type", "aggregate_id", "sequence"],
                name="bus_delivery_blocking",
                condition=Q(status__in=["pending", "dead"]),
            ),
            models.Index(
                fields=["subscriber", "delivered_at"],
                name="bus_delivery_recent",
                condition=Q(status="delivered"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} <- event {self.event_id} ({self.status})"


class PurgedUpTo(models.Model):
    """The greatest sequence of an aggregate whose delivery to a subscriber was purged.

    A subscriber gets an aggregate's events in sequence order, so every event of the
    aggregate up to this one was finished for it when the purge deleted their rows. A Kafka
    consumer reading one of them again (from the beginning, since a time) finds no delivery
    row, and this row tells it the event was handled. One row per subscriber and aggregate,
    kept for good: the topics may hold the messages longer than the outbox holds the events.
    """

    pk = models.CompositePrimaryKey("subscriber", "aggregate_type", "aggregate_id")
    subscriber = models.CharField(max_length=150)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    sequence = models.PositiveBigIntegerField()

    class Meta:
        db_table = "bus_purged_up_to"
        verbose_name = "purged up to"
        verbose_name_plural = "purged up to"

    def __str__(self) -> str:
        return (
            f"{self.subscriber} <- {self.aggregate_type}:{self.aggregate_id} up to #{self.sequence}"
        )
