"""The cart API: one view per operation; each validates, calls one service, returns the cart.

Signed-in shoppers are known by their token or session; anonymous shoppers send the secret
cart token they got at creation in the ``X-Cart-Token`` header.
"""

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.cart import services
from ecommerce.common.fields import DeliverableEmailField, WholeNumberField
from ecommerce.common.money import money_str
from ecommerce.common.openapi import raises
from ecommerce.common.parsers import KnownFieldsOnly, no_body
from ecommerce.core.idempotency import (
    CART_TOKEN_HEADER,
    IDEMPOTENCY_KEY_PARAMETER,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    idempotent,
)

CART_TOKEN_PARAMETER = OpenApiParameter(
    name=CART_TOKEN_HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="The secret token of an anonymous cart, as returned when it was created.",
)


def caller(request: Request) -> dict[str, Any]:
    """Who is asking, as the services' ``user_id`` and ``cart_token`` arguments."""
    user = request.user
    return {
        "user_id": user.pk if user and user.is_authenticated else None,
        "cart_token": request.headers.get(CART_TOKEN_HEADER) or None,
    }


def quantity_field() -> WholeNumberField:
    return WholeNumberField(min_value=1, max_value=services.MAX_LINE_QUANTITY)


class CartItemOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    product_id = serializers.UUIDField()
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class CartOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=services.Status.choices)
    items = CartItemOutputSerializer(many=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    email = serializers.CharField()
    payment_id = serializers.UUIDField(allow_null=True)
    failure_code = serializers.CharField()
    checked_out_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


_timestamp = serializers.DateTimeField().to_representation


def cart_body(cart: services.CartDTO) -> dict[str, Any]:
    """What ``CartOutputSerializer`` renders, built directly: every cart request answers with
    the cart, and the serializer machinery was a large part of their cost. A test keeps the
    two identical."""
    return {
        "id": str(cart.id),
        "status": str(cart.status),
        "items": [
            {
                "id": str(item.id),
                "product_id": str(item.product_id),
                "sku": item.sku,
                "name": item.name,
                "unit_price": money_str(item.unit_price),
                "quantity": item.quantity,
                "line_total": money_str(item.line_total),
            }
            for item in cart.items
        ],
        "total": money_str(cart.total),
        "currency": cart.currency,
        "email": cart.email,
        "payment_id": str(cart.payment_id) if cart.payment_id is not None else None,
        "failure_code": cart.failure_code,
        "checked_out_at": _timestamp(cart.checked_out_at) if cart.checked_out_at else None,
        "created_at": _timestamp(cart.created_at),
        "updated_at": _timestamp(cart.updated_at),
    }


class CartCreateView(APIView):
    class CartCreateOutputSerializer(CartOutputSerializer):
        token = serializers.CharField(
            help_text="The cart's secret: send it as X-Cart-Token. Shown only once."
        )

    @extend_schema(
        request=None,
        responses={201: CartCreateOutputSerializer},
        operation_id="carts_create",
    )
    def post(self, request: Request) -> Response:
        no_body(request)
        cart = services.cart_create(user_id=caller(request)["user_id"])
        return Response({**cart_body(cart), "token": cart.token}, status=status.HTTP_201_CREATED)


class CartDetailView(APIView):
    @extend_schema(
        parameters=[CART_TOKEN_PARAMETER],
        responses={200: CartOutputSerializer},
        operation_id="carts_retrieve",
    )
    def get(self, request: Request, cart_id: UUID) -> Response:
        cart = services.cart_get(cart_id=cart_id, **caller(request))
        return Response(cart_body(cart))


class CartItemAddView(APIView):
    class CartItemAddInputSerializer(KnownFieldsOnly):
        """A product and how many of it; another field is 400 unknown_field."""

        product_id = serializers.UUIDField()
        quantity = quantity_field()

    @extend_schema(
        parameters=[CART_TOKEN_PARAMETER, IDEMPOTENCY_KEY_PARAMETER],
        request=CartItemAddInputSerializer,
        responses={201: CartOutputSerializer},
        operation_id="carts_items_add",
        description=(
            "Add a product; one already in the cart adds to its line. With an "
            "`Idempotency-Key`, a retry after a lost answer adds once."
        ),
    )
    @idempotent
    @raises(
        services.CartNotOpen,
        services.CartFull,
        services.ProductUnavailable,
        services.OutOfStock,
        IdempotencyKeyReused,
        InvalidIdempotencyKey,
        fields={"quantity": [services.InvalidQuantity]},
    )
    def post(self, request: Request, cart_id: UUID) -> Response:
        data = self.CartItemAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_add_item(cart_id=cart_id, **data.validated_data, **caller(request))
        return Response(cart_body(cart), status=status.HTTP_201_CREATED)


class CartItemView(APIView):
    class CartItemChangeInputSerializer(KnownFieldsOnly):
        """The line's new quantity; another field is 400 unknown_field."""

        quantity = quantity_field()

    @extend_schema(
        parameters=[CART_TOKEN_PARAMETER],
        request=CartItemChangeInputSerializer,
        responses={200: CartOutputSerializer},
        operation_id="carts_items_change",
    )
    @raises(
        services.CartNotOpen,
        services.ProductUnavailable,
        services.OutOfStock,
        fields={"quantity": [services.InvalidQuantity]},
    )
    def patch(self, request: Request, cart_id: UUID, item_id: UUID) -> Response:
        data = self.CartItemChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_change_quantity(
            cart_id=cart_id, item_id=item_id, **data.validated_data, **caller(request)
        )
        return Response(cart_body(cart))

    @extend_schema(
        parameters=[CART_TOKEN_PARAMETER],
        responses={200: CartOutputSerializer},
        operation_id="carts_items_remove",
    )
    @raises(services.CartNotOpen)
    def delete(self, request: Request, cart_id: UUID, item_id: UUID) -> Response:
        cart = services.cart_remove_item(cart_id=cart_id, item_id=item_id, **caller(request))
        return Response(cart_body(cart))


class CartCheckoutView(APIView):
    class CartCheckoutInputSerializer(KnownFieldsOnly):
        """Where to send the order's news and the gateway's payment token; another field is 400
        unknown_field."""

        email = DeliverableEmailField(max_length=254)
        payment_token = serializers.CharField(max_length=services.MAX_PAYMENT_TOKEN_LENGTH)

    @extend_schema(
        parameters=[CART_TOKEN_PARAMETER, IDEMPOTENCY_KEY_PARAMETER],
        request=CartCheckoutInputSerializer,
        responses={202: CartOutputSerializer},
        operation_id="carts_checkout",
        description=(
            "Reserve the stock and start the payment. The order's outcome shows in the "
            "cart's status: poll GET /carts/{id}/ until it is paid, payment_failed or expired."
        ),
    )
    @idempotent
    @raises(
        services.CartNotOpen,
        services.CartEmpty,
        services.ProductUnavailable,
        services.OutOfStock,
        services.OrderTooLarge,
        services.CheckoutInterrupted,
        IdempotencyKeyReused,
        InvalidIdempotencyKey,
        fields={"email": [services.InvalidCheckout], "payment_token": [services.InvalidCheckout]},
    )
    def post(self, request: Request, cart_id: UUID) -> Response:
        data = self.CartCheckoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_checkout(cart_id=cart_id, **data.validated_data, **caller(request))
        return Response(cart_body(cart), status=status.HTTP_202_ACCEPTED)


class CartClaimView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        parameters=[CART_TOKEN_PARAMETER],
        request=None,
        responses={200: CartOutputSerializer},
        operation_id="carts_claim",
        description=(
            "Take an anonymous cart into the signed-in user's account. If the user has an "
            "open cart already, the lines are merged into it and that cart is returned."
        ),
    )
    @raises(services.CartNotOpen)
    def post(self, request: Request, cart_id: UUID) -> Response:
        no_body(request)
        cart = services.cart_claim(cart_id=cart_id, **caller(request))
        return Response(cart_body(cart))
