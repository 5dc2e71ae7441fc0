"""Idempotency keys, read-only: what a repeated money-moving request was answered."""

from django.contrib import admin

from ecommerce.common.admin import ReadOnlyAdmin
from ecommerce.core.models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("key", "scope", "response_status", "created_at")
    search_fields = ("=key", "=scope")
    list_filter = ("created_at",)
    show_full_result_count = False
    # Not deletable either (ReadOnlyAdmin): a deleted key answers its client's retry as a new
    # request (a checkout retried after its answer was lost would get 409 cart_not_open);
    # keys expire on their own.
