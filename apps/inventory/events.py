"""The events Inventory publishes. Public: other apps subscribe to them.

Stock-level events are about one product (aggregate type ``stock``, keyed by product id).
Reservation events are about one reservation (aggregate type ``reservation``, keyed by its
reference, which is the cart id for a checkout).
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from ecommerce.bus import Event


@dataclass(frozen=True, kw_only=True)
class ReservedLine:
    product_id: UUID
    sku: str
    quantity: int


# -- stock levels (aggregate: the product's stock) ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StockAdjusted(
    Event, event_type="inventory.StockAdjusted", aggregate="product_id", aggregate_type="stock"
):
    product_id: UUID
    sku: str
    delta: int
    reason: str
    on_hand: int
    reserved: int
    available: int
    actor_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class LowStock(
    Event, event_type="inventory.LowStock", aggregate="product_id", aggregate_type="stock"
):
    """Available stock fell to the threshold or below (published once per crossing)."""

    product_id: UUID
    sku: str
    available: int
    threshold: int


@dataclass(frozen=True, kw_only=True)
class OutOfStock(
    Event, event_type="inventory.OutOfStock", aggregate="product_id", aggregate_type="stock"
):
    """Available stock reached zero (published once per crossing)."""

    product_id: UUID
    sku: str


@dataclass(frozen=True, kw_only=True)
class BackInStock(
    Event, event_type="inventory.BackInStock", aggregate="product_id", aggregate_type="stock"
):
    """Available stock rose from zero (published once per crossing)."""

    product_id: UUID
    sku: str
    available: int


# -- reservations (aggregate: the reservation, keyed by its reference) ---------------------------


@dataclass(frozen=True, kw_only=True)
class StockReserved(
    Event,
    event_type="inventory.StockReserved",
    aggregate="reference",
    aggregate_type="reservation",
):
    reference: UUID
    lines: tuple[ReservedLine, ...]
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class StockCommitted(
    Event,
    event_type="inventory.StockCommitted",
    aggregate="reference",
    aggregate_type="reservation",
):
    """The reserved units left the warehouse: on-hand and reserved both went down.

    Commit and expiry both lock the reservation, so a reservation's hold ends once, in this
    or in ``ReservationExpired``: an order is paid exactly when this is published. (With
    inventory apart, a hold that expired can be renewed for the cart's next checkout, whose
    commit then follows the old expiry; docs/SPLITTING.md.) ``payment_id`` names the payment
    that bought the units (None for a commit that no payment asked for, and in events
    published before the field existed).
    """

    reference: UUID
    lines: tuple[ReservedLine, ...]
    payment_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class StockReleased(
    Event,
    event_type="inventory.StockReleased",
    aggregate="reference",
    aggregate_type="reservation",
):
    """The reservation was given up (payment failed, cancelled): units are available again."""

    reference: UUID
    lines: tuple[ReservedLine, ...]
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReservationExpired(
    Event,
    event_type="inventory.ReservationExpired",
    aggregate="reference",
    aggregate_type="reservation",
):
    """The reservation outlived RESERVATION_TTL unpaid: units are available again."""

    reference: UUID
    lines: tuple[ReservedLine, ...]


@dataclass(frozen=True, kw_only=True)
class StockReturned(
    Event,
    event_type="inventory.StockReturned",
    aggregate="reference",
    aggregate_type="reservation",
):
    """Committed units came back (a refund): on-hand went up again."""

    reference: UUID
    lines: tuple[ReservedLine, ...]
