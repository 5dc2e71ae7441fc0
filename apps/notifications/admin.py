"""Notifications in the admin: the log of everything sent (read-only, with a "Resend" action)
and shoppers' product alerts."""

import hashlib
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.notifications import services
from apps.notifications.models import Notification, NotificationStatus, Subscription
from ecommerce.common.admin import IdSearch, ReadOnlyWithActions, bounded
from ecommerce.common.errors import DomainError
from ecommerce.core.idempotency import IdempotencyKeyReused, OnceFormField, run_once


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
    list_filter = ("kind", "status", "channel", "created_at")
    search_fields = ("=id", "=source_event_id", "=order_id", "=product_id", "email", "subject")
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
    @bounded
    def resend(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> TemplateResponse | None:
        """Asks first, on a page whose form counts once: sent twice (a double click, the
        browser sending it again), it emails the customers once."""
        if "confirm" not in request.POST:
            chosen = queryset.order_by("created_at")
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Resend notifications",
                "count": chosen.count(),
                "shown": chosen[:RESEND_LISTED],
                # Every one matching the list's filters: the confirmation says so, not with
                # each id (a form of over 1,000 fields is refused).
                "select_across": request.POST.get("select_across") in ("1", "True"),
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "form": ResendForm(initial={"request_id": OnceFormField.fresh()}),
            }
            template = "admin/notifications/notification/resend_confirmation.html"
            return TemplateResponse(request, template, context)
        form = ResendForm(request.POST)
        if not form.is_valid():
            self.message_user(request, OnceFormField.OUT_OF_DATE, messages.ERROR)
            return None
        ids = sorted(str(pk) for pk in queryset.values_list("pk", flat=True))
        try:
            told, repeated = run_once(
                scope=f"admin:{request.user.pk}",
                key=f"notification_resend:{form.cleaned_data['request_id']}",
                fingerprint=hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
                run=lambda: _resend(ids),
            )
        except IdempotencyKeyReused:
            self.message_user(request, "This form was already used; nothing sent.", messages.ERROR)
            return None
        if repeated:
            self.message_user(request, "Already resent; nothing sent now.", messages.WARNING)
            return None
        for level, text in told:
            self.message_user(request, text, level)
        return None


RESEND_LISTED = 100  # rows the confirmation shows; it says how many more there are


class ResendForm(forms.Form):
    request_id = OnceFormField()


def _resend(ids: list[str]) -> list[tuple[int, str]]:
    """Resend each of these notifications; returns the messages for staff, as (level, text)."""
    told: list[tuple[int, str]] = []
    outcomes: dict[str, int] = {}
    on_their_way = 0
    chosen = Notification.objects.filter(pk__in=ids).order_by("created_at")
    for notification_id, status in chosen.values_list("pk", "status"):
        if status == NotificationStatus.PENDING:
            on_their_way += 1  # the service leaves those alone: not resent
            continue
        try:
            result = services.notification_resend(notification_id=notification_id)
        except DomainError as exc:
            told.append((messages.ERROR, f"Notification {notification_id}: {exc.detail}"))
            continue
        if result.status == NotificationStatus.FAILED:
            told.append(
                (
                    messages.ERROR,
                    f"Notification {notification_id} failed again: {result.last_error}",
                )
            )
        outcomes[result.status] = outcomes.get(result.status, 0) + 1
    queued = outcomes.get(NotificationStatus.PENDING, 0) + outcomes.get(NotificationStatus.SENT, 0)
    if queued:
        told.append((messages.SUCCESS, f"{queued} notifications resent."))
    if on_their_way:
        told.append(
            (
                messages.WARNING,
                f"{on_their_way} notifications are still on their way (pending); not resent.",
            )
        )
    return told


@admin.register(Subscription)
class SubscriptionAdmin(IdSearch):
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
