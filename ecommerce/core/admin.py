"""Idempotency keys, read-only: what a repeated money-moving request was answered."""

from django.contrib import admin
from django.http import HttpRequest

from ecommerce.core.models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "scope", "response_status", "created_at")
    search_fields = ("=key", "=scope")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A deleted key answers its client's retry as a new request (a checkout retried after
        # its answer was lost would get 409 cart_not_open); keys expire on their own.
        return False
