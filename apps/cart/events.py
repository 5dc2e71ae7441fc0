"""The events Cart publishes. Public: other apps subscribe to them.

Every event is about one cart (aggregate type ``cart``); the cart is also the order record,
so its events tell an order's whole story in commit order.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

from ecommerce.bus import Event

# Why a line left a cart (``CartItemRemoved.reason``).
REMOVED_BY_CUSTOMER: Final = "removed_by_customer"
PRODUCT_DISCONTINUED: Final = "product_discontinued"


@dataclass(frozen=True, kw_only=True)
class CartLine:
    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int


@dataclass(frozen=True, kw_only=True)
class CartItemAdded(Event, event_type="cart.CartItemAdded", aggregate="cart_id"):
    cart_id: UUID
    product_id: UUID
    sku: str
    quantity: int  # units added by this call
    line_quantity: int  # the line's quantity after it
    unit_price: Decimal


@dataclass(frozen=True, kw_only=True)
class CartItemQuantityChanged(
    Event, event_type="cart.CartItemQuantityChanged", aggregate="cart_id"
):
    cart_id: UUID
    product_id: UUID
    sku: str
    old_quantity: int
    new_quantity: int


@dataclass(frozen=True, kw_only=True)
class CartItemRemoved(Event, event_type="cart.CartItemRemoved", aggregate="cart_id"):
    cart_id: UUID
    product_id: UUID
    sku: str
    name: str
    quantity: int
    reason: str  # REMOVED_BY_CUSTOMER | PRODUCT_DISCONTINUED
    user_id: UUID | None = None
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class CartCheckedOut(
    Event, event_type="cart.CartCheckedOut", aggregate="cart_id", hidden=("payment_token",)
):
    """Stock is reserved; payment can start. ``payment_token`` is the gateway's token only,
    left out of staff pages as the cart's and payment's admins leave it out."""

    cart_id: UUID
    user_id: UUID | None
    email: str
    lines: tuple[CartLine, ...]
    total: Decimal
    currency: str
    payment_token: str
    # When the reservation runs out: no charge is made after it (the units go back on sale).
    # None in events published before this field was added.
    reserved_until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CartPaid(Event, event_type="cart.CartPaid", aggregate="cart_id"):
    cart_id: UUID
    user_id: UUID | None
    email: str
    payment_id: UUID
    total: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class CartPaymentFailed(Event, event_type="cart.CartPaymentFailed", aggregate="cart_id"):
    cart_id: UUID
    user_id: UUID | None
    email: str
    payment_id: UUID
    failure_code: str
    total: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class CartExpired(Event, event_type="cart.CartExpired", aggregate="cart_id"):
    cart_id: UUID
    user_id: UUID | None
    email: str
    # What the order came to; None in events published before these fields were added.
    total: Decimal | None = None
    currency: str | None = None
