"""Reads the API serves, with what they need joined in."""

from uuid import UUID

from django.db.models import QuerySet

from apps.inventory.models import Stock, StockMovement


def stock_movement_list(*, product_id: UUID) -> QuerySet[StockMovement]:
    """One product's stock ledger, newest first, with the staff member behind each change."""
    return (
        StockMovement.objects.filter(product_id=product_id).select_related("actor").order_by("-id")
    )


def stock_listed(*, product_id: UUID) -> bool:
    """Whether shoppers may see the product's stock (``Stock.listed``); no stock: False."""
    return Stock.objects.filter(product_id=product_id, listed=True).exists()
