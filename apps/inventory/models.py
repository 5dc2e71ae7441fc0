"""Inventory's persistence: stock per product, reservations, and the stock ledger.

Products live in another app, so stock and reservation lines hold the product's id and a
snapshot of its SKU, never a foreign key.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Stock(models.Model):
    """How many units of one product are on hand, and how many of those are reserved."""

    product_id = models.UUIDField(unique=True)
    sku = models.CharField(max_length=64)
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    low_stock_threshold = models.PositiveIntegerField(default=5)
    # Whether shoppers may see it: its product is for sale. Kept in step by products' events
    # (a draft or discontinued product's stock is staff's only).
    listed = models.BooleanField(default=True)
    # When the product event that set ``listed`` happened: an older one (replayed by an
    # operator) does not undo a newer one.
    listed_as_of = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("sku",)
        constraints = [
            # The last line of defence: services change counters with conditional updates,
            # and a bug that slips past them fails here instead of overselling.
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="inventory_stock_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                name="inventory_stock_reserved_within_on_hand",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """Units held for one reference (a cart's checkout) until paid, released or expired."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        COMMITTED = "committed", "committed"
        RELEASED = "released", "released"
        EXPIRED = "expired", "expired"
        RETURNED = "returned", "returned"

    reference = models.UUIDField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    release_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            # The admin's list, newest first (then by id, as the admin adds), a page at a time.
            models.Index(fields=["-created_at", "-id"], name="inventory_reservation_newest"),
            # The expiry job's query: active reservations by due time.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="inventory_reservation_due",
            ),
        ]

    def __str__(self) -> str:
        return f"reservation {self.reference} ({self.status})"


class ReservationLine(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    product_id = models.UUIDField()
    sku = models.CharField(max_length=64)
    quantity = models.IntegerField()

    class Meta:
        ordering = ("product_id",)
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "product_id"], name="inventory_reservation_line_unique"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="inventory_reservation_line_quantity_positive"
            ),
        ]
        indexes = [models.Index(fields=["product_id"], name="inventory_line_product")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class StockMovement(models.Model):
    """One row of the append-only stock ledger: every change to on-hand or reserved.

    Summing a product's deltas gives its current on-hand and reserved counts.
    """

    class Kind(models.TextChoices):
        ADJUSTMENT = "adjustment", "adjustment"
        RESERVATION = "reservation", "reservation"
        RELEASE = "release", "release"
        COMMIT = "commit", "commit"
        EXPIRY = "expiry", "expiry"
        RETURN = "return", "return"
        RECONCILIATION = "reconciliation", "reconciliation"

    product_id = models.UUIDField()
    sku = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    on_hand_delta = models.IntegerField()
    reserved_delta = models.IntegerField()
    on_hand_after = models.IntegerField()
    reserved_after = models.IntegerField()
    reason = models.CharField(max_length=255, blank=True)
    reference = models.UUIDField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-id",)  # newest first; ids follow insertion order
        indexes = [
            models.Index(fields=["product_id", "-id"], name="inventory_movement_product"),
            models.Index(fields=["reference"], name="inventory_movement_reference"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.sku} {self.kind}: on hand {self.on_hand_delta:+d}, "
            f"reserved {self.reserved_delta:+d}"
        )
