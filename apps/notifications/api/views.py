"""Notifications API: a signed-in user's in-app inbox and product alerts. Own only: someone
else's notification or subscription is 404, as if it did not exist."""

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.notifications import selectors, services
from apps.notifications.models import NotificationKind, SubscriptionKind
from ecommerce.common.openapi import raises
from ecommerce.common.pagination import PAGE_PARAMETERS, PageNumberPagination, page_of
from ecommerce.common.parsers import KnownFieldsOnly, no_body


def _user_id(request: Request) -> UUID:
    user_id = request.user.pk
    assert isinstance(user_id, UUID)  # IsAuthenticated let only signed-in users through
    return user_id


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=NotificationKind.choices)
    subject = serializers.CharField()
    body = serializers.CharField(source="body_text")
    read = serializers.BooleanField()
    read_at = serializers.DateTimeField(allow_null=True)
    order_id = serializers.UUIDField(allow_null=True)
    product_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()


class SubscriptionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    product_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=SubscriptionKind.choices)
    price_when_subscribed = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="A price drop alert fires when the price goes below this; null otherwise.",
    )
    active = serializers.SerializerMethodField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_active(self, subscription: services.SubscriptionDTO) -> bool:
        """Waiting to notify; false once it has notified (subscribe again to re-arm it)."""
        return subscription.fulfilled_at is None


class NotificationListView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    NotificationListOutputSerializer = page_of(
        NotificationOutputSerializer, "NotificationListOutputSerializer"
    )

    @extend_schema(
        operation_id="notifications_list",
        parameters=PAGE_PARAMETERS,
        responses={200: NotificationListOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        inbox = selectors.notification_inbox(user_id=_user_id(request))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(inbox, request, view=self) or []
        results = [services.to_dto(n) for n in page]
        return paginator.get_paginated_response(
            NotificationOutputSerializer(results, many=True).data
        )


class NotificationReadView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    @extend_schema(
        operation_id="notifications_read",
        request=None,
        responses={200: NotificationOutputSerializer},
    )
    def post(self, request: Request, notification_id: UUID) -> Response:
        no_body(request)
        notification = services.notification_mark_read(
            user_id=_user_id(request), notification_id=notification_id
        )
        return Response(NotificationOutputSerializer(notification).data)


class NotificationReadAllView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    class NotificationReadAllOutputSerializer(serializers.Serializer):
        marked_read = serializers.IntegerField(help_text="How many were unread.")

    @extend_schema(
        operation_id="notifications_read_all",
        request=None,
        responses={200: NotificationReadAllOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        no_body(request)
        marked = services.notifications_mark_all_read(user_id=_user_id(request))
        return Response(self.NotificationReadAllOutputSerializer({"marked_read": marked}).data)


class SubscriptionListCreateView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    class SubscriptionCreateInputSerializer(KnownFieldsOnly):
        """The product to watch and for what; another field is 400 unknown_field."""

        product_id = serializers.UUIDField()
        kind = serializers.ChoiceField(choices=SubscriptionKind.choices)

    SubscriptionListOutputSerializer = page_of(
        SubscriptionOutputSerializer, "SubscriptionListOutputSerializer"
    )

    @extend_schema(
        operation_id="notifications_subscriptions_list",
        parameters=PAGE_PARAMETERS,
        responses={200: SubscriptionListOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        subscriptions = selectors.subscription_list(user_id=_user_id(request))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(subscriptions, request, view=self) or []
        results = [services.subscription_to_dto(s) for s in page]
        return paginator.get_paginated_response(
            SubscriptionOutputSerializer(results, many=True).data
        )

    @extend_schema(
        operation_id="notifications_subscriptions_create",
        request=SubscriptionCreateInputSerializer,
        responses={201: SubscriptionOutputSerializer},
    )
    @raises(
        services.ProductUnavailable,
        services.DuplicateSubscription,
        fields={"kind": [services.UnknownSubscriptionKind]},
    )
    def post(self, request: Request) -> Response:
        given = self.SubscriptionCreateInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        subscription = services.subscription_create(
            user_id=_user_id(request),
            product_id=given.validated_data["product_id"],
            kind=given.validated_data["kind"],
        )
        return Response(
            SubscriptionOutputSerializer(subscription).data, status=status.HTTP_201_CREATED
        )


class SubscriptionDetailView(APIView):
    permission_classes = (permissions.IsAuthenticated,)

    @extend_schema(
        operation_id="notifications_subscriptions_retrieve",
        responses={200: SubscriptionOutputSerializer},
    )
    def get(self, request: Request, subscription_id: UUID) -> Response:
        subscription = services.subscription_get(
            user_id=_user_id(request), subscription_id=subscription_id
        )
        return Response(SubscriptionOutputSerializer(subscription).data)

    @extend_schema(operation_id="notifications_subscriptions_destroy", responses={204: None})
    def delete(self, request: Request, subscription_id: UUID) -> Response:
        services.subscription_delete(user_id=_user_id(request), subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
