"""Queue again the gateway work nobody is doing: charges, owed refunds, settlements (also
scheduled)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.payments import services
from ecommerce.common.arguments import seconds


class Command(BaseCommand):
    help = (
        "Queue again the charges, owed refunds and settlements of payments untouched for "
        "longer than PAYMENT_STALL_SECONDS (a charge never started: "
        "PAYMENT_QUEUED_STALL_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=seconds,
            default=None,
            metavar="SECONDS",
            help=(
                "how long untouched counts as stalled, for all of them (default: "
                "PAYMENT_STALL_SECONDS, and PAYMENT_QUEUED_STALL_SECONDS for a charge never "
                "started)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = services.payments_resume_stalled(older_than_seconds=options["older_than"])
        self.stdout.write(f"{resumed} stalled payments queued again.")
