"""Notifications's persistence: every message the shop sends, and shoppers' product alerts."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    IN_APP = "in_app", "In-app"


class NotificationKind(models.TextChoices):
    ORDER_RECEIVED = "order_received", "Order received"
    PAYMENT_CONFIRMED = "payment_confirmed", "Payment confirmed"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    REFUND_ISSUED = "refund_issued", "Refund issued"
    ITEM_DISCONTINUED = "item_discontinued", "Item discontinued"
    BACK_IN_STOCK = "back_in_stock", "Back in stock"
    PRICE_DROP = "price_drop", "Price drop"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class SubscriptionKind(models.TextChoices):
    BACK_IN_STOCK = "back_in_stock", "Back in stock"
    PRICE_DROP = "price_drop", "Price drop"


class Notification(models.Model):
    """One message to one recipient on one channel, rendered when it was created.

    ``recipient`` is the key that makes an event's notification unique: the lower-cased email
    address on the email channel, the user id in-app. ``context`` keeps what the templates
    were rendered with, so a notification whose template failed can be rendered again.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    email = models.EmailField(blank=True)
    recipient = models.CharField(max_length=254)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    source_event_id = models.UUIDField()
    order_id = models.UUIDField(null=True, blank=True)  # the cart, for an order's messages
    product_id = models.UUIDField(null=True, blank=True)  # the product, for alerts
    # While a send task talks to the mail server, no other task may send the same email.
    lease_until = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("source_event_id", "kind", "channel", "recipient"),
                name="notification_once_per_event_and_recipient",
            ),
            models.CheckConstraint(
                # In-app, the recipient is the user's id: it stays when the account is
                # deleted (the row's user becomes null, as an email's does).
                condition=(
                    (Q(channel="in_app") & ~Q(recipient="")) | (Q(channel="email") & ~Q(email=""))
                ),
                name="notification_channel_has_a_recipient",
            ),
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values),
                name="notification_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=("user", "-created_at"),
                condition=Q(channel="in_app"),
                name="notification_inbox",
            ),
            models.Index(
                fields=("updated_at",),
                condition=Q(status="pending"),
                name="notification_pending",
            ),
            models.Index(fields=("order_id",), name="notification_order"),
            # The admin's log, newest first, read a page at a time instead of sorting it all.
            models.Index(fields=("-created_at", "-id"), name="notification_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.channel}, {self.status})"


class Subscription(models.Model):
    """A shopper's wish to hear once when a product is back in stock or cheaper."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="product_subscriptions"
    )
    product_id = models.UUIDField()
    kind = models.CharField(max_length=32, choices=SubscriptionKind.choices)
    # A price drop alert's mark: the product's price when the shopper subscribed (or armed it
    # again). It fires when the price goes below that. Empty for back-in-stock alerts, and for
    # price drop alerts made before it was kept (those compare each change's old price).
    price_when_subscribed = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("user", "product_id", "kind"), name="subscription_once_per_user"
            ),
        ]
        indexes = [
            models.Index(
                fields=("product_id", "kind"),
                condition=Q(fulfilled_at__isnull=True),
                name="subscription_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.product_id}"
