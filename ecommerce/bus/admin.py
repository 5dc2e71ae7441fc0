"""Browse events and deliveries; retry or discard dead ones."""

import json

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ecommerce.bus import operations
from ecommerce.bus.conf import KAFKA_PRODUCER
from ecommerce.bus.events import aggregate_types, event_class, event_types
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.registry import subscriptions
from ecommerce.common.admin import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReadOnlyWithActions,
    choices_filter,
)


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ("subscriber", "status", "attempts", "next_attempt_at", "delivered_at", "last_error")


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "aggregate_type", "aggregate_id", "sequence", "occurred_at")
    list_filter = (
        choices_filter("event_type", "event type", event_types),
        choices_filter("aggregate_type", "aggregate type", aggregate_types),
        "occurred_at",
    )
    search_fields = ("=event_id", "=aggregate_id", "=correlation_id")
    uuid_text_fields = ("aggregate_id",)  # the aggregates the shop names by UUID

    def uuid_text_match(self, name: str, text: str) -> Q:
        # By the (aggregate_type, aggregate_id, sequence) index, one look per aggregate type
        # the code declares: the aggregate id alone would read every event. (An event of a
        # type no longer declared is found by its own id.)
        return Q(aggregate_type__in=sorted(aggregate_types()), aggregate_id=text)

    exclude = ("payload",)
    readonly_fields = ("shown_payload",)
    inlines = (DeliveryInline,)
    show_full_result_count = False

    @admin.display(description="payload")
    def shown_payload(self, obj: OutboxEvent) -> str:
        """The payload with the event's hidden fields (a payment token) left out."""
        try:
            hidden = event_class(obj.event_type).hidden_fields
        except LookupError:  # a type this code no longer declares
            hidden = frozenset()
        shown = {k: "(hidden)" if k in hidden else v for k, v in obj.payload.items()}
        return format_html("<pre>{}</pre>", json.dumps(shown, indent=2, ensure_ascii=False))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyWithActions):
    list_display = (
        "id",
        "subscriber",
        "event_type",
        "aggregate",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = (
        "status",
        choices_filter(
            "subscriber",
            "subscriber",
            lambda: {s.name for s in subscriptions()} | {KAFKA_PRODUCER},
        ),
    )
    search_fields = ("=aggregate_id", "=event__event_id")
    uuid_text_fields = ("aggregate_id",)  # the aggregates the shop names by UUID
    list_select_related = ("event",)
    actions = ("retry", "discard")
    show_full_result_count = False

    @admin.display(description="event type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.event_type

    @admin.display(description="aggregate")
    def aggregate(self, obj: Delivery) -> str:
        return f"{obj.aggregate_type}:{obj.aggregate_id}"

    # The retry and discard actions need "change" (the bus | delivery permission, a
    # superuser's): discarding an order's delivery can leave it never charged, so being staff
    # is not enough.

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [f.name for f in Delivery._meta.fields]

    @admin.action(description="Retry selected dead deliveries", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = operations.dead_letters_retry(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} dead deliveries queued again.", messages.SUCCESS)

    @admin.action(description="Discard selected dead deliveries", permissions=["change"])
    def discard(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = operations.dead_letters_discard(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} dead deliveries discarded.", messages.SUCCESS)
