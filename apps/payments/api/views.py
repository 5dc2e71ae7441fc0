"""Payments API: a shopper's payments, staff refunds, and the gateway's webhook.

Anonymous callers see no payments (401): a payment is tied to the account that checked out,
and an anonymous cart's token cannot be checked here without the cart service. Anonymous
shoppers follow their order through ``GET /api/v1/carts/{id}/`` instead.
"""

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.payments import selectors, services
from ecommerce.common.openapi import raises
from ecommerce.common.pagination import PAGE_PARAMETERS, PageNumberPagination, page_of
from ecommerce.common.parsers import no_body
from ecommerce.core import idempotency


class PaymentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    cart_id = serializers.UUIDField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=services.Status.choices)
    failure_code = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _viewer(request: Request) -> dict[str, Any]:
    return {"viewer_id": request.user.pk, "viewer_is_staff": bool(request.user.is_staff)}


class PaymentListView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    class PaymentListFilterSerializer(serializers.Serializer):
        cart = serializers.UUIDField(required=False, help_text="Only this cart's payments.")

    PaymentListOutputSerializer = page_of(PaymentOutputSerializer, "PaymentListOutputSerializer")

    @extend_schema(
        operation_id="payments_list",
        parameters=[
            PaymentListFilterSerializer,
            *PAGE_PARAMETERS,
        ],
        responses={200: PaymentListOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        filters = self.PaymentListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payments = selectors.payment_list_visible(
            **_viewer(request), cart_id=filters.validated_data.get("cart")
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(payments, request, view=self) or []
        results = [services.to_dto(p) for p in page]
        return paginator.get_paginated_response(PaymentOutputSerializer(results, many=True).data)


class PaymentDetailView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    @extend_schema(operation_id="payments_retrieve", responses={200: PaymentOutputSerializer})
    def get(self, request: Request, payment_id: UUID) -> Response:
        payment = selectors.payment_get_visible(payment_id=payment_id, **_viewer(request))
        return Response(PaymentOutputSerializer(payment).data)


class CanRefundPayments(permissions.BasePermission):
    """The ``payments.refund_payment`` permission (superusers have it): being staff is not
    enough to send money back."""

    message = "This needs the payments.refund_payment permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user.has_perm("payments.refund_payment"))


class PaymentRefundView(APIView):
    permission_classes = (permissions.IsAuthenticated, CanRefundPayments)

    @extend_schema(
        operation_id="payments_refund",
        description=(
            "409 `payment_not_refundable` unless the payment succeeded; 409 `refund_declined` "
            "when the gateway refuses the refund for good (nothing changed); 503 "
            "`gateway_unavailable` when it does not confirm it: the refund is then owed and "
            "completed automatically, and repeating the request is safe."
        ),
        request=None,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description=(
                    "Repeating a refund with the same key answers like the first time; the "
                    "same key on another payment's refund is 409 idempotency_key_reused."
                ),
            )
        ],
        responses={200: PaymentOutputSerializer},
    )
    @raises(
        services.PaymentNotRefundable,
        services.RefundDeclined,
        services.RefundKeyReused,
        services.GatewayUnavailable,
        idempotency.InvalidIdempotencyKey,
    )
    def post(self, request: Request, payment_id: UUID) -> Response:
        no_body(request)  # a whole refund: an amount sent must not be taken for a partial one
        key = request.headers.get(idempotency.HEADER)
        refund = services.payment_refund(
            payment_id=payment_id,
            actor_id=request.user.pk,
            idempotency_key=idempotency.valid_key(key) if key is not None else "",
        )
        headers = {idempotency.REPLAYED_HEADER: "true"} if refund.repeated else None
        return Response(PaymentOutputSerializer(refund.payment).data, headers=headers)


class PaymentWebhookView(APIView):
    """Gateway callbacks. No user auth: the HMAC signature is checked before anything else."""

    authentication_classes = ()
    permission_classes = ()
    # A 429 would only delay the shop hearing about money; the signature check is cheap.
    throttle_classes = ()

    class PaymentWebhookOutputSerializer(serializers.Serializer):
        gateway_event_id = serializers.CharField()
        result = serializers.ChoiceField(choices=["applied", "duplicate", "ignored"])

    @extend_schema(
        operation_id="payments_webhook",
        description=(
            "200 with the result once the event is handled (`applied`, `duplicate`, or "
            "`ignored`: recorded, it can never apply). 409 `webhook_out_of_order` when the event "
            "does not fit the payment yet (a refund of a charge not reported yet): nothing is "
            "recorded and the gateway should send it again. 400 `invalid_signature` or "
            "`invalid_webhook`: nothing is read or changed."
        ),
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(
                "X-Signature",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description='HMAC-SHA256: "t=<unix time>,v1=<hex>" over "<t>.<raw body>".',
            )
        ],
        responses={200: PaymentWebhookOutputSerializer},
    )
    @raises(services.WebhookRejected, services.WebhookOutOfOrder)
    def post(self, request: Request) -> Response:
        # The raw bytes, never the parsed body: the signature covers exactly what was sent.
        outcome = services.payment_apply_webhook(body=request.body, headers=request.headers)
        return Response(self.PaymentWebhookOutputSerializer(outcome).data)
