"""Release reservations past their TTL (django-q2 also runs this every minute)."""

from typing import Any

from django.core.management.base import BaseCommand

from apps.inventory import services


class Command(BaseCommand):
    help = "Expire active reservations past their expires_at and release their stock."

    def handle(self, *args: Any, **options: Any) -> None:
        expired = services.reservations_expire_due()
        self.stdout.write(f"{expired} reservations expired")
