"""Number events past those a database restored from a backup handed out before the restore."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecommerce.bus import operations


class Command(BaseCommand):
    help = (
        "After restoring this database from a backup, and before the shop runs again: raise "
        "every aggregate's event sequence (and the start of new ones) past the numbers handed "
        "out after the backup, which other services have seen."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--by",
            type=int,
            default=operations.DEFAULT_SEQUENCE_GAP,
            help="how far to move (default: %(default)s); more than the events any one "
            "aggregate published between the backup and the restore",
        )

    def handle(self, *args: Any, by: int, **options: Any) -> None:
        try:
            advanced = operations.advance_sequences(by=by)
        except operations.InvalidGap as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{advanced.aggregates} aggregates' sequences raised by {by}; "
            f"new aggregates start after {advanced.floor}"
        )
