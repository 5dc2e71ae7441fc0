"""Notifications in the admin: the log of everything sent (read-only, with a "Resend" action)
and shoppers' product alerts."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.notifications import services
from apps.notifications.models import Notification, NotificationStatus, Subscription
from ecommerce.common.admin import ReadOnlyWithActions
from ecommerce.common.errors import DomainError


@admin.register(Notification)
class NotificationAdmin(ReadOnlyWithActions):
    list_display = (
        "created_at",
        "kind",
        "channel",
        "recipient",
        "subject",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("kind", "status", "channel")
    search_fields = ("=id", "=source_event_id", "=order_id", "=product_id", "email", "subject")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "kind",
        "channel",
        "user",
        "email",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "subject",
        "body_text",
        "html_preview",
        "context",
        "source_event_id",
        "order_id",
        "product_id",
        "read_at",
        "sent_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("resend",)
    list_select_related = ("user",)
    show_full_result_count = False

    # The resend action needs "change" (the notifications | notification permission, a
    # superuser's): being staff is not enough to email customers.

    @admin.display(description="HTML body")
    def html_preview(self, obj: Notification) -> SafeString:
        # Sandboxed: the body is shown as the customer's mail program would, without scripts.
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;height:420px;border:1px solid #ccc;">'
            "</iframe>",
            obj.body_html,
        )

    @admin.action(description="Resend selected notifications", permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        outcomes: dict[str, int] = {}
        on_their_way = 0
        for notification_id, status in queryset.values_list("pk", "status"):
            if status == NotificationStatus.PENDING:
                on_their_way += 1  # the service leaves those alone: not resent
                continue
            try:
                result = services.notification_resend(notification_id=notification_id)
            except DomainError as exc:
                self.message_user(
                    request, f"Notification {notification_id}: {exc.detail}", messages.ERROR
                )
                continue
            if result.status == NotificationStatus.FAILED:
                self.message_user(
                    request,
                    f"Notification {notification_id} failed again: {result.last_error}",
                    messages.ERROR,
                )
            outcomes[result.status] = outcomes.get(result.status, 0) + 1
        queued = outcomes.get(NotificationStatus.PENDING, 0) + outcomes.get(
            NotificationStatus.SENT, 0
        )
        if queued:
            self.message_user(request, f"{queued} notifications resent.", messages.SUCCESS)
        if on_their_way:
            self.message_user(
                request,
                f"{on_their_way} notifications are still on their way (pending); not resent.",
                messages.WARNING,
            )


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "user",
        "product_id",
        "kind",
        "price_when_subscribed",
        "fulfilled_at",
    )
    list_filter = ("kind", ("fulfilled_at", admin.EmptyFieldListFilter))
    search_fields = ("=product_id", "user__email")
    list_select_related = ("user",)
    # Read-only: a subscription is made by its shopper through subscription_create, which
    # checks the product exists, is for sale and is not subscribed twice. Staff may look,
    # filter and delete (say, for a shopper who asked), never add or edit around those checks.
    fields = ("user", "product_id", "kind", "price_when_subscribed", "fulfilled_at", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
