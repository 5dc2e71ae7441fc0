"""What other apps' events do to the catalog. Thin, and safe to run twice or late."""

from apps.inventory.events import BackInStock, OutOfStock
from apps.products import services


def on_stock_crossed_zero(event: OutOfStock | BackInStock) -> None:
    """Keep the product's ``in_stock`` flag in step: from inventory's stock now, not from
    the event, which a replay may deliver long after newer ones."""
    services.products_refresh_in_stock(product_ids=[event.product_id])
