"""Reads the API serves: a signed-in user's own in-app notifications and subscriptions."""

from uuid import UUID

from django.db.models import QuerySet

from apps.notifications.models import Channel, Notification, NotificationStatus, Subscription


def notification_inbox(*, user_id: UUID) -> QuerySet[Notification]:
    """The user's delivered in-app notifications, newest first."""
    return Notification.objects.filter(
        user_id=user_id, channel=Channel.IN_APP, status=NotificationStatus.SENT
    ).order_by("-created_at", "-id")


def subscription_list(*, user_id: UUID) -> QuerySet[Subscription]:
    """The user's product alerts, newest first."""
    return Subscription.objects.filter(user_id=user_id).order_by("-created_at", "-id")
