"""Products' internal endpoints: the reads other apps call, for ``apps.products.http_client``.

Mounted under ``/api/internal/products/``, for the shop's own services only (a service token,
``ecommerce.remote.views``). Unlike the public catalog they answer for every status: a cart
has to tell a discontinued product from one that never existed.
"""

from uuid import UUID

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.products import services
from ecommerce.remote.views import InternalAPIView, dto_response

MAX_LOOKUP_IDS = services.LOOKUP_BATCH


class ProductsInternalView(InternalAPIView):
    app = "products"


class ProductLookupView(ProductsInternalView):
    class InternalProductLookupInputSerializer(serializers.Serializer):
        product_ids = serializers.ListField(
            child=serializers.UUIDField(), max_length=MAX_LOOKUP_IDS
        )

    def post(self, request: Request) -> Response:
        data = self.InternalProductLookupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = services.product_get_many(product_ids=data.validated_data["product_ids"])
        return dto_response(list(found.values()))


class ProductDetailView(ProductsInternalView):
    def get(self, request: Request, product_id: UUID) -> Response:
        return dto_response(services.product_get(product_id=product_id))
