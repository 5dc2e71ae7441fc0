"""Products' services as other processes call them: over HTTP, to ``api/internal``.

``apps.products.services`` hands ``product_get`` and ``product_get_many`` to
:class:`ProductsClient` when ``SERVICE_URLS`` names products, so callers get the same DTOs and
the same exceptions as in-process. Both are reads: retried on a timeout or a 5xx.
"""

from uuid import UUID

from apps.products import services
from ecommerce.remote.client import ServiceClient, decode

APP = "products"

PRODUCT_NOT_FOUND = {"not_found": services.ProductNotFound}


class ProductsClient:
    def __init__(self, base_url: str) -> None:
        self.http = ServiceClient(APP, base_url, errors={})

    def product_get(self, *, product_id: UUID) -> services.ProductDTO:
        data = self.http.get(f"products/{product_id}", errors=PRODUCT_NOT_FOUND)
        return decode(services.ProductDTO, data)

    def product_get_many(self, *, product_ids: list[UUID]) -> dict[UUID, services.ProductDTO]:
        ids = sorted({str(product_id) for product_id in product_ids})
        data = self.http.lookup("products/lookup", "product_ids", ids, batch=services.LOOKUP_BATCH)
        return {dto.id: dto for dto in decode(list[services.ProductDTO], data)}
