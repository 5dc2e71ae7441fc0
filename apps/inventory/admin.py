"""Staff's stock tools: stock levels with an "Adjust stock" form, the ledger, reservations.

Counters are read-only here: every change is an adjustment through ``stock_adjust``, so it
lands in the ledger and publishes the same events as the API.
"""

import hashlib
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.inventory import selectors, services
from apps.inventory.models import Reservation, ReservationLine, Stock, StockMovement
from ecommerce.common.admin import ReadOnlyAdmin, ReadOnlyInline
from ecommerce.common.errors import DomainError
from ecommerce.core.idempotency import IdempotencyKeyReused, OnceFormField, run_once


class StockLevelFilter(admin.SimpleListFilter):
    title = "stock level"
    parameter_name = "level"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("out", "Out of stock"),
            ("low", "Low (at or below threshold)"),
            ("ok", "Above threshold"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Stock]) -> QuerySet[Stock]:
        # available = on_hand - reserved, compared without leaving the row's columns
        line = F("reserved") + F("low_stock_threshold")
        if self.value() == "out":
            return queryset.filter(on_hand__lte=F("reserved"))
        if self.value() == "low":
            return queryset.filter(on_hand__gt=F("reserved"), on_hand__lte=line)
        if self.value() == "ok":
            return queryset.filter(on_hand__gt=line)
        return queryset


class StockAdjustForm(forms.Form):
    # One per form shown: a second submit of the same form (a double click, a browser sending
    # the page again) is answered as the first and changes stock once.
    request_id = OnceFormField()
    delta = forms.IntegerField(
        min_value=-services.MAX_UNITS_TYPED,
        max_value=services.MAX_UNITS_TYPED,
        help_text="Units to add (positive) or remove (negative), e.g. 24 for a delivery.",
    )
    reason = forms.CharField(max_length=255, help_text="Why: delivery, stock count, breakage...")

    def clean_delta(self) -> int:
        delta: int = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("An adjustment changes stock by at least one unit.")
        return delta


@admin.register(Stock)
class StockAdmin(ReadOnlyAdmin):
    list_display = (
        "sku",
        "product_id",
        "on_hand",
        "reserved",
        "available",
        "low_stock_threshold",
        "updated_at",
        "adjust_link",
    )
    list_filter = (StockLevelFilter,)
    search_fields = ("sku", "=product_id")
    readonly_fields = (
        "product_id",
        "sku",
        "on_hand",
        "reserved",
        "available",
        "low_stock_threshold",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    actions = ("adjust_selected",)

    def get_urls(self) -> list[URLPattern]:
        adjust = path(
            "<path:object_id>/adjust/",
            self.admin_site.admin_view(self.adjust_view),
            name="inventory_stock_adjust",
        )
        return [adjust, *super().get_urls()]

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.change_stock")

    @admin.display(description="")
    def adjust_link(self, obj: Stock) -> str:
        url = reverse("admin:inventory_stock_adjust", args=[obj.pk])
        return format_html('<a href="{}">Adjust stock</a>', url)

    @admin.action(description="Adjust stock of the selected product", permissions=["adjust"])
    def adjust_selected(
        self, request: HttpRequest, queryset: QuerySet[Stock]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one product to adjust.", messages.WARNING)
            return None
        stock = queryset.get()
        return HttpResponseRedirect(reverse("admin:inventory_stock_adjust", args=[stock.pk]))

    def _adjust_once(self, request: HttpRequest, stock: Stock, wanted: dict[str, Any]) -> str:
        """Make the adjustment unless this form made it already; returns what to tell."""
        delta, reason = wanted["delta"], wanted["reason"]
        done = f"{stock.sku}: {delta:+d} ({reason})"

        def adjust() -> str:
            after = services.stock_adjust(
                product_id=stock.product_id, delta=delta, reason=reason, actor_id=request.user.pk
            )
            return (
                f"{done}. Now {after.on_hand} on hand, {after.reserved} reserved, "
                f"{after.available} available."
            )

        asked = json.dumps([str(stock.product_id), delta, reason])
        told, repeated = run_once(
            scope=f"admin:{request.user.pk}",  # apart from the keys the API takes
            key=f"stock_adjust:{wanted['request_id']}",
            fingerprint=hashlib.sha256(asked.encode()).hexdigest(),
            run=adjust,
        )
        return f"Already made: {done}; nothing changed now." if repeated else str(told)

    def adjust_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_adjust_permission(request):
            raise PermissionDenied
        stock = self.get_object(request, object_id)  # None for an unknown or malformed id
        if stock is None:
            raise Http404("No stock with this id.")
        if request.method == "POST":
            form = StockAdjustForm(request.POST)
        else:
            form = StockAdjustForm(initial={"request_id": OnceFormField.fresh()})
        if request.method == "POST" and form.is_valid():
            try:
                told = self._adjust_once(request, stock, form.cleaned_data)
            except IdempotencyKeyReused:
                form.add_error(
                    None,
                    "This form was already used for another adjustment; nothing changed. "
                    "Open the adjust page again to make a new one.",
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                self.message_user(request, told, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:inventory_stock_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Adjust stock: {stock.sku}",
            "stock": stock,
            "form": form,
            "movements": selectors.stock_movement_list(product_id=stock.product_id)[:10],
        }
        return TemplateResponse(request, "admin/inventory/stock/adjust.html", context)


class ReservationLineInline(ReadOnlyInline):
    model = ReservationLine
    fields = ("product_id", "sku", "quantity")


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "status", "expires_at", "release_reason", "created_at")
    list_filter = ("status", "expires_at", "created_at")
    search_fields = ("=reference", "=lines__product_id", "lines__sku")
    inlines = (ReservationLineInline,)
    show_full_result_count = False


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "sku",
        "kind",
        "on_hand_delta",
        "reserved_delta",
        "on_hand_after",
        "reserved_after",
        "reason",
        "reference",
        "actor",
    )
    list_filter = ("kind", "created_at")
    search_fields = ("sku", "=product_id", "=reference")
    list_select_related = ("actor",)
    show_full_result_count = False
