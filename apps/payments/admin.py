"""Payments in the admin: read-only, with their event log; staff refund with an action."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.payments import services
from apps.payments.models import Payment, PaymentEvent
from ecommerce.common.admin import ReadOnlyInline, ReadOnlyWithActions, bounded
from ecommerce.common.errors import DomainError


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ("created_at", "kind", "gateway_event_id", "detail")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyWithActions):
    list_display = (
        "id",
        "cart_id",
        "email",
        "amount",
        "currency",
        "status",
        "failure_code",
        "attempts",
        "created_at",
    )
    # Failure codes are the gateway's own: searched for exactly, not listed from a DISTINCT
    # over every payment.
    list_filter = ("status", "created_at")
    search_fields = ("=id", "=cart_id", "=gateway_reference", "=failure_code", "email")
    # The gateway token and the idempotency keys are the gateway's business: not shown.
    fields = (
        "id",
        "cart_id",
        "user_id",
        "email",
        "amount",
        "currency",
        "status",
        "failure_code",
        "attempts",
        "reserved_until",
        "gateway",
        "gateway_reference",
        "refund_reference",
        "refunded_by",
        "refund_owed_since",
        "charge_unsettled_since",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (PaymentEventInline,)
    actions = ("refund",)
    show_full_result_count = False

    def has_action_permission(self, request: HttpRequest) -> bool:
        # Staff see payments; the refund action asks for its own permission besides.
        return bool(request.user.is_staff)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("payments.refund_payment"))

    @admin.action(description="Refund selected payments", permissions=["refund"])
    @bounded
    def refund(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        refunded = 0
        for payment_id in queryset.values_list("pk", flat=True):
            try:
                services.payment_refund(payment_id=payment_id, actor_id=request.user.pk)
            except DomainError as exc:
                self.message_user(request, f"Payment {payment_id}: {exc.detail}", messages.ERROR)
            else:
                refunded += 1
        if refunded:
            self.message_user(request, f"{refunded} payments refunded.", messages.SUCCESS)
