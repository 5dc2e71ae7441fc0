"""List, retry or discard dead deliveries, by id or by filter."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecommerce.bus import operations


class Command(BaseCommand):
    help = "Inspect and act on dead deliveries: list, retry, discard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "retry", "discard"])
        parser.add_argument(
            "ids",
            nargs="*",
            type=int,
            help="delivery ids (default: all that match); one not dead stops it, nothing done",
        )
        parser.add_argument(
            "--subscriber", help="only this subscriber's, e.g. payments.start_payment"
        )
        parser.add_argument(
            "--type", dest="event_type", help="only this event type's, e.g. cart.CartCheckedOut"
        )

    def handle(
        self,
        *args: Any,
        action: str,
        ids: list[int],
        subscriber: str | None,
        event_type: str | None,
        **options: Any,
    ) -> None:
        letters = operations.dead_letters(subscriber=subscriber, event_type=event_type)
        if (subscriber or event_type) and not letters.exists():
            # A name no longer in the code may still have dead letters to discard; one that
            # is neither known nor found is a typo, said as such rather than "0 deliveries".
            try:
                operations.ReplaySlice(subscriber=subscriber, event_type=event_type).validate()
            except operations.UnknownName as exc:
                raise CommandError(str(exc)) from exc
        if ids:
            letters = letters.filter(pk__in=ids)
            missing = sorted(set(ids) - set(letters.values_list("pk", flat=True)))
            if missing:
                # A typo, or a delivery no longer dead (retried and delivered since): said,
                # and nothing done, rather than acting on the others alone.
                which = " for that --subscriber/--type" if subscriber or event_type else ""
                listed = ", ".join(str(pk) for pk in missing)
                raise CommandError(f"no dead delivery with id {listed}{which}; nothing done")
        if action == "list":
            for d in letters:
                last = d.last_error.strip().splitlines()[-1:] or [""]
                self.stdout.write(
                    f"{d.pk:>8}  {d.subscriber:<40} {d.event.event_type:<32} "
                    f"{d.aggregate_type}:{d.aggregate_id}  attempts={d.attempts}  {last[0][:120]}"
                )
            self.stdout.write(f"{letters.count()} dead deliveries")
            return
        if not ids and not (subscriber or event_type) and action == "discard":
            raise CommandError("discard needs delivery ids or a --subscriber/--type filter")
        chosen = list(letters.values_list("pk", flat=True))
        if action == "retry":
            count = operations.dead_letters_retry(chosen)
            self.stdout.write(f"{count} deliveries queued again")
        else:
            count = operations.dead_letters_discard(chosen)
            self.stdout.write(f"{count} deliveries discarded")
