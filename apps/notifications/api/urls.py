from django.urls import path

from apps.notifications.api.views import (
    NotificationListView,
    NotificationReadAllView,
    NotificationReadView,
    SubscriptionDetailView,
    SubscriptionListCreateView,
)

urlpatterns = [
    path("notifications/", NotificationListView.as_view(), name="notification-list"),
    path("notifications/read-all", NotificationReadAllView.as_view(), name="notification-read-all"),
    path(
        "notifications/<uuid:notification_id>/read",
        NotificationReadView.as_view(),
        name="notification-read",
    ),
    path(
        "notifications/subscriptions",
        SubscriptionListCreateView.as_view(),
        name="notification-subscription-list",
    ),
    path(
        "notifications/subscriptions/<uuid:subscription_id>",
        SubscriptionDetailView.as_view(),
        name="notification-subscription-detail",
    ),
]
