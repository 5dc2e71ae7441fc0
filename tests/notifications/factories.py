"""Notifications rows as given state."""

import uuid

import factory

from apps.notifications.models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    Subscription,
    SubscriptionKind,
)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    product_id = factory.LazyFunction(uuid.uuid4)
    kind = SubscriptionKind.BACK_IN_STOCK


class InAppNotificationFactory(factory.django.DjangoModelFactory):
    """A delivered in-app notification (pass ``user=``)."""

    class Meta:
        model = Notification

    channel = Channel.IN_APP
    recipient = factory.LazyAttribute(lambda n: str(n.user.pk))
    kind = NotificationKind.ORDER_RECEIVED
    subject = factory.Sequence(lambda n: f"Notification {n}")
    body_text = "We received your order."
    status = NotificationStatus.SENT
    source_event_id = factory.LazyFunction(uuid.uuid4)
