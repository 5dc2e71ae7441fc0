"""Recompute reserved counts from active reservations; report drift, fix it with --fix."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.inventory import services


class Command(BaseCommand):
    help = (
        "Compare each product's reserved count with its active reservations and report drift; "
        "--fix sets reserved to what the reservations hold, with a ledger row. Exits 1 while "
        "any product drifts (not fixed), for monitoring."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fix", action="store_true", help="correct drifting products (ledger row each)"
        )

    def handle(self, *args: Any, fix: bool, **options: Any) -> None:
        drifts = services.stock_reconcile(fix=fix)
        if not drifts:
            self.stdout.write("no drift: every reserved count matches its active reservations")
            return
        header = f"{'sku':<24} {'product id':<36} {'on hand':>8} {'reserved':>9} {'expected':>9}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for d in drifts:
            line = (
                f"{d.sku:<24} {d.product_id!s:<36} {d.on_hand:>8} {d.reserved:>9} "
                f"{d.expected_reserved:>9}"
            )
            if fix:
                line += "  fixed" if d.fixed else "  NOT FIXED: on hand cannot cover it"
            self.stdout.write(line)
        fixed = sum(d.fixed for d in drifts)
        summary = f"{len(drifts)} products drift"
        self.stdout.write(f"{summary}, {fixed} fixed" if fix else f"{summary}; run with --fix")
        if fixed < len(drifts):
            raise CommandError(f"{len(drifts) - fixed} products drift, not fixed", returncode=1)
