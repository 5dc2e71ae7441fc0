"""Carts (the order records) in the admin: read-only, with their lines."""

from django.contrib import admin

from apps.cart.models import Cart, CartLine
from ecommerce.common.admin import ReadOnlyAdmin, ReadOnlyInline


class CartLineInline(ReadOnlyInline):
    model = CartLine
    fields = ("product_id", "sku", "name", "unit_price", "quantity")


@admin.register(Cart)
class CartAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "owner", "email", "currency", "checked_out_at", "updated_at")
    list_filter = ("status", "created_at")
    search_fields = ("=id", "email", "owner__email", "=payment_id")
    list_select_related = ("owner",)
    # The gateway token is the gateway's business, as in the payments admin: not shown.
    fields = (
        "id",
        "status",
        "owner",
        "email",
        "currency",
        "payment_id",
        "failure_code",
        "checked_out_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (CartLineInline,)
    show_full_result_count = False
