"""Queue the send again for pending emails nobody is working on (also scheduled)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.notifications import services
from ecommerce.common.arguments import seconds


class Command(BaseCommand):
    help = (
        "Queue the send again for emails pending longer than NOTIFICATION_STALL_SECONDS (never "
        "tried: NOTIFICATION_QUEUED_STALL_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=seconds,
            default=None,
            metavar="SECONDS",
            help=(
                "how long untouched counts as stalled, for all of them (default: "
                "NOTIFICATION_STALL_SECONDS, and NOTIFICATION_QUEUED_STALL_SECONDS for an email "
                "never tried)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = services.notifications_resume_stalled(older_than_seconds=options["older_than"])
        self.stdout.write(f"{resumed} stalled notifications queued for sending again.")
