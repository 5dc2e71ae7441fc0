"""Payments's persistence: payments, their append-only event log, and the fake gateway's ledger.

No raw card data is stored anywhere: a payment keeps only the token the gateway gave the
storefront (``payment_token``), which the gateway alone can turn into a charge.
"""

import uuid

from django.db import models
from django.db.models import Q


class PaymentStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class Payment(models.Model):
    """One payment per cart: the money side of an order."""

    Status = PaymentStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cart_id = models.UUIDField(unique=True)
    # The cart's owner when it was checked out (None: an anonymous cart). Not a foreign key:
    # the payment outlives the account, and the id is what visibility checks need.
    user_id = models.UUIDField(null=True, blank=True, db_index=True)
    email = models.EmailField(max_length=254)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    gateway = models.CharField(max_length=50)
    # The gateway's token for the shopper's card (e.g. "tok_ok"), never card data itself.
    payment_token = models.CharField(max_length=255)
    # Sent with every charge call: a retry or a redelivered checkout never charges twice.
    idempotency_key = models.CharField(max_length=255, unique=True)
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)
    failure_code = models.CharField(max_length=50, blank=True)
    # Gateway charge calls made so far (timeouts included).
    attempts = models.PositiveIntegerField(default=0)
    refund_reference = models.CharField(max_length=255, blank=True)
    # The staff member who asked for the refund and their Idempotency-Key, recorded with the
    # debt (before the gateway is called), so that request can be repeated safely and answers
    # like the first time. Cleared if the gateway refuses the refund for good.
    refund_idempotency_key = models.CharField(max_length=255, blank=True)
    refunded_by = models.UUIDField(null=True, blank=True)
    # Set when a refund is owed: money was taken for an order that did not go through (the
    # charge landed after the order expired, or after we gave up on the gateway), or a staff
    # member asked for a refund (set, and committed, before the gateway is called). A task
    # makes it, re-queued by the stalled-payments sweep until it is recorded; cleared if the
    # gateway refuses it for good.
    refund_owed_since = models.DateTimeField(null=True, blank=True)
    # Set when the payment failed without knowing whether a charge it attempted went
    # through (the order expired, or we gave up on the gateway, after a call without an
    # answer). A task asks the gateway what became of that charge and owes it back if it
    # was taken; re-queued by the stalled-payments sweep until the gateway says.
    charge_unsettled_since = models.DateTimeField(null=True, blank=True)
    # When the order's reservation runs out (from ``CartCheckedOut``): no charge is made
    # after it, since the units then go back on sale. None: no limit (older checkouts).
    reserved_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values),
                name="payment_status_valid",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_code=""),
                name="payment_failed_has_code",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["succeeded", "refunded"]) | ~Q(gateway_reference=""),
                name="payment_charged_has_reference",
            ),
            models.CheckConstraint(
                condition=Q(refund_owed_since__isnull=True) | ~Q(gateway_reference=""),
                name="payment_refund_owed_was_charged",
            ),
        ]
        indexes = [
            # The admin's list, newest first, read a page at a time instead of sorting them all.
            models.Index(fields=["-created_at", "id"], name="payment_newest"),
            models.Index(fields=["status", "updated_at"], name="payment_status_updated"),
            # The stalled-payments sweep (every minute) finds owed refunds and unsettled
            # charges: a few rows among every payment ever made, which it would scan.
            models.Index(
                fields=["updated_at"],
                condition=Q(refund_owed_since__isnull=False),
                name="payment_refund_owed",
            ),
            models.Index(
                fields=["updated_at"],
                condition=Q(charge_unsettled_since__isnull=False),
                name="payment_charge_unsettled",
            ),
            # Finds the payment a staff member's refund key was used on (payment_refund).
            models.Index(
                fields=["refunded_by", "refund_idempotency_key"], name="payment_refund_key"
            ),
        ]
        # Refunding moves money back: a permission of its own, not any staff member's right.
        permissions = [("refund_payment", "Can refund payments")]

    def __str__(self) -> str:
        return f"payment {self.id}: {self.amount} {self.currency} {self.status}"


class PaymentEvent(models.Model):
    """What happened to a payment, in order. Rows are only ever added.

    A row for a gateway webhook carries the gateway's event id, unique, which is how each
    webhook event is applied once however often the gateway sends it.
    """

    class Kind(models.TextChoices):
        CREATED = "created"
        CHARGE_TIMED_OUT = "charge_timed_out"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REFUNDED = "refunded"
        WEBHOOK = "webhook"
        REFUND_OWED = "refund_owed"
        REFUND_DECLINED = "refund_declined"
        CHARGE_SETTLED = "charge_settled"

    id = models.BigAutoField(primary_key=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    gateway_event_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "created",
                        "charge_timed_out",
                        "succeeded",
                        "failed",
                        "refunded",
                        "webhook",
                        "refund_owed",
                        "refund_declined",
                        "charge_settled",
                    ]
                ),
                name="payment_event_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on payment {self.payment_id}"


class FakeGatewayRequest(models.Model):
    """The built-in fake gateway's own books: one row per idempotency key.

    It lives in the database so the fake behaves the same across web and worker processes
    (``tok_flaky`` times out twice per key, then succeeds) and so tests can count charges.
    """

    class Operation(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"

    class Outcome(models.TextChoices):
        PENDING = "pending"  # only timeouts so far
        SUCCEEDED = "succeeded"
        DECLINED = "declined"

    idempotency_key = models.CharField(max_length=255, unique=True)
    operation = models.CharField(max_length=10, choices=Operation.choices)
    payment_id = models.UUIDField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    calls = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    reference = models.CharField(max_length=255, blank=True)
    failure_code = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_fake_gateway_request"
        constraints = [
            models.CheckConstraint(
                condition=Q(operation__in=["charge", "refund"]),
                name="fake_gateway_operation_valid",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=["pending", "succeeded", "declined"]),
                name="fake_gateway_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"fake {self.operation} {self.idempotency_key}: {self.outcome}"
