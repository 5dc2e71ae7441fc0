"""GET /inventory/{product_id}/, POST .../adjustments (staff), GET .../movements (staff)."""

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.inventory import selectors, services
from ecommerce.common.fields import WholeNumberField
from ecommerce.common.openapi import raises
from ecommerce.common.pagination import PAGE_PARAMETERS, PageNumberPagination, page_of
from ecommerce.common.parsers import KnownFieldsOnly
from ecommerce.common.permissions import StaffPermissions
from ecommerce.core.idempotency import (
    IDEMPOTENCY_KEY_PARAMETER,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    idempotent_by,
    user_scope,
)


class StockDetailView(APIView):
    class InventoryStockOutputSerializer(serializers.Serializer):
        STAFF_ONLY = ("on_hand", "reserved", "low_stock_threshold")

        product_id = serializers.UUIDField()
        sku = serializers.CharField()
        available = serializers.IntegerField()
        on_hand = serializers.IntegerField(required=False, help_text="Staff only.")
        reserved = serializers.IntegerField(required=False, help_text="Staff only.")
        low_stock_threshold = serializers.IntegerField(required=False, help_text="Staff only.")

        def __init__(self, *args: Any, staff: bool = True, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if not staff:
                for name in self.STAFF_ONLY:
                    self.fields.pop(name)

    @extend_schema(
        responses={200: InventoryStockOutputSerializer},
        operation_id="inventory_stock_retrieve",
        description="Availability of one product; staff also see on-hand and reserved.",
    )
    def get(self, request: Request, product_id: UUID) -> Response:
        if not request.user.is_staff and not selectors.stock_listed(product_id=product_id):
            raise services.StockNotFound()  # a draft's or a discontinued product's: staff only
        stock = services.stock_get(product_id=product_id)
        return Response(
            self.InventoryStockOutputSerializer(stock, staff=request.user.is_staff).data
        )


class StockAdjustView(APIView):
    permission_classes = (IsAdminUser, StaffPermissions)
    staff_permissions = {"POST": "inventory.change_stock"}

    class InventoryAdjustmentInputSerializer(KnownFieldsOnly):
        """Units to add or remove, and why; another field is 400 unknown_field."""

        delta = WholeNumberField(
            min_value=-services.MAX_UNITS_TYPED, max_value=services.MAX_UNITS_TYPED
        )
        reason = serializers.CharField(max_length=255)

    @extend_schema(
        request=InventoryAdjustmentInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: StockDetailView.InventoryStockOutputSerializer},
        operation_id="inventory_stock_adjust",
        description=(
            "Change on-hand stock by `delta` (never zero) with a reason. A delta that would take "
            "on-hand below zero or below what is reserved is 409 `insufficient_stock`. With an "
            "`Idempotency-Key`, a repeat (a retry after a lost answer) adjusts once."
        ),
    )
    @idempotent_by(user_scope)  # staff's keys are theirs, whatever cart token they send
    @raises(
        services.InsufficientStock,
        IdempotencyKeyReused,
        InvalidIdempotencyKey,
        fields={"delta": [services.InvalidQuantity], "reason": [services.InvalidReason]},
    )
    def post(self, request: Request, product_id: UUID) -> Response:
        data = self.InventoryAdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stock = services.stock_adjust(
            product_id=product_id, actor_id=request.user.pk, **data.validated_data
        )
        return Response(
            StockDetailView.InventoryStockOutputSerializer(stock).data,
            status=status.HTTP_201_CREATED,
        )


class StockMovementListView(APIView):
    permission_classes = (IsAdminUser,)
    pagination_class = PageNumberPagination

    class InventoryMovementOutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        on_hand_delta = serializers.IntegerField()
        reserved_delta = serializers.IntegerField()
        on_hand_after = serializers.IntegerField()
        reserved_after = serializers.IntegerField()
        reason = serializers.CharField()
        reference = serializers.UUIDField(allow_null=True)
        actor_id = serializers.UUIDField(allow_null=True)
        actor_email = serializers.EmailField(source="actor.email", allow_null=True, default=None)
        created_at = serializers.DateTimeField()

    InventoryMovementPageOutputSerializer = page_of(
        InventoryMovementOutputSerializer, "InventoryMovementPageOutputSerializer"
    )

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: InventoryMovementPageOutputSerializer},
        operation_id="inventory_stock_movements_list",
        description="The product's stock ledger, newest first.",
    )
    def get(self, request: Request, product_id: UUID) -> Response:
        services.stock_get(product_id=product_id)  # 404 for a product without stock
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.stock_movement_list(product_id=product_id), request, view=self
        )
        return paginator.get_paginated_response(
            self.InventoryMovementOutputSerializer(page, many=True).data
        )
