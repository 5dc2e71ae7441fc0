"""Set every product's in_stock flag from inventory's stock as it is now."""

from typing import Any

from django.core.management.base import BaseCommand

from apps.products import services


class Command(BaseCommand):
    help = (
        "Set every product's in_stock flag (what GET /api/v1/products/?in_stock=true reads) "
        "from inventory's stock now. Inventory's OutOfStock and BackInStock keep the flags in "
        "step; run this once after migrating where inventory has its own database, or after "
        "restoring a backup. Safe to run at any time."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        changed = services.products_refresh_in_stock()
        self.stdout.write(f"{changed} products' in_stock changed")
