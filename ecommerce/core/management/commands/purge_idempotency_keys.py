"""Delete Idempotency-Key records older than a day (django-q2 also runs this hourly)."""

from typing import Any

from django.core.management.base import BaseCommand

from ecommerce.core.idempotency import purge_expired_keys


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than a day."

    def handle(self, *args: Any, **options: Any) -> None:
        purged = purge_expired_keys()
        self.stdout.write(f"Purged {purged} expired idempotency keys.")
