"""Inventory's services as other processes call them: over HTTP, to ``api/internal``.

``apps.inventory.services`` hands the calls other apps make to :class:`InventoryClient` when
``SERVICE_URLS`` names inventory, so callers get the same DTOs and the same exceptions as
in-process. Reads, ``stock_create`` (idempotent) and ``reservation_create`` (idempotent per
reference; a renewal names the reservation it renews, so it happens once) are retried on a
timeout or a 5xx; ``stock_adjust`` is not (it would count twice).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from apps.inventory import services
from ecommerce.remote.client import ServiceClient, decode

APP = "inventory"

ERRORS = {
    services.OutOfStock.code: services.OutOfStock,
    services.InsufficientStock.code: services.InsufficientStock,
    services.InvalidQuantity.code: services.InvalidQuantity,
    services.InvalidReason.code: services.InvalidReason,
    services.ReservationNotActive.code: services.ReservationNotActive,
    services.ReservationNotCommitted.code: services.ReservationNotCommitted,
}
STOCK_NOT_FOUND = {"not_found": services.StockNotFound}
RESERVATION_NOT_FOUND = {"not_found": services.ReservationNotFound}


class InventoryClient:
    def __init__(self, base_url: str) -> None:
        self.http = ServiceClient(APP, base_url, errors=ERRORS)

    def stock_get(self, *, product_id: UUID) -> services.StockDTO:
        data = self.http.get(f"stock/{product_id}", errors=STOCK_NOT_FOUND)
        return decode(services.StockDTO, data)

    def stock_get_many(self, *, product_ids: Iterable[UUID]) -> dict[UUID, services.StockDTO]:
        ids = sorted({str(product_id) for product_id in product_ids})
        # A POST, since a page of a large catalog asks about more ids than fit in a URL.
        data = self.http.lookup("stock/lookup", "product_ids", ids, batch=services.LOOKUP_BATCH)
        return {dto.product_id: dto for dto in decode(list[services.StockDTO], data)}

    def stock_create(
        self,
        *,
        product_id: UUID,
        sku: str,
        on_hand: int,
        low_stock_threshold: int,
        actor_id: UUID | None,
    ) -> services.StockDTO:
        body = {
            "product_id": str(product_id),
            "sku": sku,
            "on_hand": on_hand,
            "low_stock_threshold": low_stock_threshold,
            "actor_id": _str_or_none(actor_id),
        }
        return decode(services.StockDTO, self.http.post("stock", body, idempotent=True))

    def stock_adjust(
        self, *, product_id: UUID, delta: int, reason: str, actor_id: UUID | None
    ) -> services.StockDTO:
        body = {"delta": delta, "reason": reason, "actor_id": _str_or_none(actor_id)}
        data = self.http.post(
            f"stock/{product_id}/adjustments", body, idempotent=False, errors=STOCK_NOT_FOUND
        )
        return decode(services.StockDTO, data)

    def reservation_create(
        self,
        *,
        reference: UUID,
        lines: Sequence[services.ReservationLineIn],
        ttl: timedelta | None,
        renewing_expires_at: datetime | None = None,
    ) -> services.ReservationDTO:
        body = {
            "reference": str(reference),
            "lines": [
                {"product_id": str(line.product_id), "quantity": line.quantity} for line in lines
            ],
            "ttl_seconds": ttl.total_seconds() if ttl is not None else None,
            "renewing_expires_at": _isoformat_or_none(renewing_expires_at),
        }
        data = self.http.post("reservations", body, idempotent=True)
        return decode(services.ReservationDTO, data)

    def reservation_get(self, *, reference: UUID) -> services.ReservationDTO:
        data = self.http.get(f"reservations/{reference}", errors=RESERVATION_NOT_FOUND)
        return decode(services.ReservationDTO, data)


def _str_or_none(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


def _isoformat_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
