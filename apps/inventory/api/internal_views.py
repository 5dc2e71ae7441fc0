"""Inventory's internal endpoints: the services other apps call, for ``apps.inventory.http_client``.

Mounted under ``/api/internal/inventory/``, for the shop's own services only (a service token,
``ecommerce.remote.views``). Inputs are checked for shape only; the services judge the values,
so a bad quantity is the same ``invalid_quantity`` as in-process.
"""

from datetime import timedelta
from uuid import UUID

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.inventory import services
from ecommerce.common.fields import WholeNumberField
from ecommerce.remote.views import InternalAPIView, dto_response

# What one lookup may ask about: a catalog page is at most 100 products, a product list
# filtered by stock asks about every candidate product (the client sends them in batches).
MAX_LOOKUP_IDS = services.LOOKUP_BATCH


class InventoryInternalView(InternalAPIView):
    app = "inventory"


class StockLookupView(InventoryInternalView):
    class InternalStockLookupInputSerializer(serializers.Serializer):
        product_ids = serializers.ListField(
            child=serializers.UUIDField(), max_length=MAX_LOOKUP_IDS
        )

    def post(self, request: Request) -> Response:
        data = self.InternalStockLookupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stock = services.stock_get_many(product_ids=data.validated_data["product_ids"])
        return dto_response(list(stock.values()))


class StockCreateView(InventoryInternalView):
    class InternalStockCreateInputSerializer(serializers.Serializer):
        product_id = serializers.UUIDField()
        sku = serializers.CharField(max_length=64)
        on_hand = WholeNumberField()
        low_stock_threshold = WholeNumberField(min_value=0)
        actor_id = serializers.UUIDField(allow_null=True, required=False, default=None)

    def post(self, request: Request) -> Response:
        data = self.InternalStockCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stock = services.stock_create(**data.validated_data)
        return dto_response(stock, status.HTTP_201_CREATED)


class StockDetailView(InventoryInternalView):
    def get(self, request: Request, product_id: UUID) -> Response:
        return dto_response(services.stock_get(product_id=product_id))


class StockAdjustView(InventoryInternalView):
    class InternalStockAdjustInputSerializer(serializers.Serializer):
        delta = WholeNumberField()
        reason = serializers.CharField(allow_blank=True, trim_whitespace=False)
        actor_id = serializers.UUIDField(allow_null=True)

    def post(self, request: Request, product_id: UUID) -> Response:
        data = self.InternalStockAdjustInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stock = services.stock_adjust(product_id=product_id, **data.validated_data)
        return dto_response(stock, status.HTTP_201_CREATED)


class InternalReservationLineInputSerializer(serializers.Serializer):
    product_id = serializers.UUIDField()
    quantity = WholeNumberField()


class ReservationCreateView(InventoryInternalView):
    class InternalReservationCreateInputSerializer(serializers.Serializer):
        reference = serializers.UUIDField()
        lines = InternalReservationLineInputSerializer(many=True)
        # Up to a year: far past any hold, short of the calendar's end.
        ttl_seconds = serializers.FloatField(min_value=1, max_value=366 * 86_400, allow_null=True)
        renewing_expires_at = serializers.DateTimeField(allow_null=True, default=None)

    def post(self, request: Request) -> Response:
        data = self.InternalReservationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ttl_seconds = data.validated_data["ttl_seconds"]
        reservation = services.reservation_create(
            reference=data.validated_data["reference"],
            lines=[services.ReservationLineIn(**line) for line in data.validated_data["lines"]],
            ttl=timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None,
            renewing_expires_at=data.validated_data["renewing_expires_at"],
        )
        return dto_response(reservation, status.HTTP_201_CREATED)


class ReservationDetailView(InventoryInternalView):
    def get(self, request: Request, reference: UUID) -> Response:
        return dto_response(services.reservation_get(reference=reference))
