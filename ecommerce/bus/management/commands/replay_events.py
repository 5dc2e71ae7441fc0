"""Re-deliver a slice of past events to their subscribers."""

from datetime import UTC
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from ecommerce.bus import operations


def _when(value: str) -> Any:
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed, but no such time: 2026-02-30, hour 25
        parsed = None
    if parsed is None:
        raise CommandError(f"{value!r} is not an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)")
    if timezone.is_naive(parsed):  # a date, or a time without its offset: UTC, as stored
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


class Command(BaseCommand):
    help = "Replay events: put a slice back in front of its subscribers (see --dry-run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subscriber", help="only this subscriber (default: all of each event's)"
        )
        parser.add_argument(
            "--type", dest="event_type", help="event type, e.g. cart.CartCheckedOut"
        )
        parser.add_argument("--aggregate-type", help="only this aggregate type's, e.g. cart")
        parser.add_argument(
            "--aggregate-id", help="only this aggregate's (a cart's, a product's id...)"
        )
        parser.add_argument(
            "--since", help="occurred at or after (ISO 8601; a date or a time without offset: UTC)"
        )
        parser.add_argument("--until", help="occurred before (ISO 8601, as --since)")
        parser.add_argument("--dry-run", action="store_true", help="print what would be replayed")

    def handle(self, *args: Any, **options: Any) -> None:
        selection = operations.ReplaySlice(
            subscriber=options["subscriber"],
            event_type=options["event_type"],
            aggregate_type=options["aggregate_type"],
            aggregate_id=options["aggregate_id"],
            since=_when(options["since"]) if options["since"] else None,
            until=_when(options["until"]) if options["until"] else None,
        )
        try:
            plan = operations.replay_plan(selection)
        except operations.UnknownName as exc:
            raise CommandError(str(exc)) from exc
        total = sum(plan.values())
        for (event_type, subscriber), count in sorted(plan.items()):
            self.stdout.write(f"{count:>8}  {event_type:<36} -> {subscriber}")
        if options["dry_run"]:
            self.stdout.write(f"dry run: {total} deliveries would be replayed")
            return
        events = selection.events().count()
        with tqdm(
            total=events, unit="event", disable=events == 0 or not self.stdout.isatty()
        ) as bar:
            queued = operations.replay(selection, progress=bar.update)
        self.stdout.write(f"{queued} deliveries queued for replay")
