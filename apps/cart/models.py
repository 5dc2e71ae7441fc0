"""Cart's persistence: carts (which are also the order record) and their lines.

Lines keep a snapshot of the product (SKU, name, unit price) and only its id: products live
in another app, so there is no foreign key to them.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


def default_currency() -> str:
    return str(settings.STORE_CURRENCY)


class CartStatus(models.TextChoices):
    OPEN = "open"
    CHECKED_OUT = "checked_out"  # stock reserved, payment under way
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"  # the reservation ran out before the payment came


class Cart(models.Model):
    Status = CartStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Signed-in shoppers own their carts; anonymous ones hold the secret token instead.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="carts",
    )
    # sha256 of the secret token given out once, at creation: a database leak reveals no token.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    currency = models.CharField(max_length=3, default=default_currency)
    email = models.EmailField(blank=True)
    # The payment gateway's token reference (tok_...), never card data.
    payment_token = models.CharField(max_length=100, blank=True)
    payment_id = models.UUIDField(null=True, blank=True)
    failure_code = models.CharField(max_length=50, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "cart_cart"
        indexes = [
            models.Index(fields=["owner", "status"], name="cart_owner_status"),
            models.Index(fields=["status", "updated_at"], name="cart_status_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CartStatus.values), name="cart_status_known"
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(checked_out_at__isnull=False),
                name="cart_checked_out_at_set",
            ),
        ]

    def __str__(self) -> str:
        return f"cart {self.id} ({self.status})"


class CartLine(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    product_id = models.UUIDField()
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "cart_line"
        ordering = ("created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["cart", "product_id"], name="cart_line_one_per_product"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cart_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="cart_line_unit_price_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["product_id"], name="cart_line_product")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
