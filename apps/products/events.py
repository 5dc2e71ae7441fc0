"""The events Products publishes. Public: other apps subscribe to them.

Every event is about one product (aggregate type ``product``), so a subscriber sees one
product's changes in the order they were committed.
"""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from ecommerce.bus import Event


@dataclass(frozen=True, kw_only=True)
class ProductCreated(
    Event, event_type="products.ProductCreated", aggregate="product_id", aggregate_type="product"
):
    product_id: UUID
    sku: str
    name: str
    price: Decimal
    currency: str
    status: str
    category: str | None = None  # the category's slug
    actor_id: UUID | None = None  # the staff user who made the change, if any


@dataclass(frozen=True, kw_only=True)
class ProductUpdated(
    Event, event_type="products.ProductUpdated", aggregate="product_id", aggregate_type="product"
):
    product_id: UUID
    sku: str
    name: str
    status: str
    changed: tuple[str, ...]  # names of the fields that changed
    actor_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ProductPriceChanged(
    Event,
    event_type="products.ProductPriceChanged",
    aggregate="product_id",
    aggregate_type="product",
):
    product_id: UUID
    sku: str
    name: str
    old_price: Decimal
    new_price: Decimal
    currency: str
    actor_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ProductDiscontinued(
    Event,
    event_type="products.ProductDiscontinued",
    aggregate="product_id",
    aggregate_type="product",
):
    product_id: UUID
    sku: str
    name: str
    actor_id: UUID | None = None
