"""Per subscriber: pending, age of the oldest pending event, dead, delivered in the last minute."""

from typing import Any

from django.core.management.base import BaseCommand

from ecommerce.bus import operations


class Command(BaseCommand):
    help = "Show the event bus backlog per subscriber."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = operations.status()
        header = f"{'subscriber':<48} {'pending':>8} {'oldest':>9} {'dead':>6} {'last min':>9}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for row in rows:
            oldest = (
                f"{row.oldest_pending_seconds:.0f}s"
                if row.oldest_pending_seconds is not None
                else "-"
            )
            recent = row.delivered_last_minute
            self.stdout.write(
                f"{row.subscriber:<48} {row.pending:>8} {oldest:>9} {row.dead:>6} {recent:>9}"
            )
