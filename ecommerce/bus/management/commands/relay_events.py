"""Deliver events to subscribers until SIGTERM/SIGINT; ``--once`` drains what is due and exits."""

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from ecommerce.bus.relay import Relay, install_stop_signals
from ecommerce.common import arguments


class Command(BaseCommand):
    help = "Run the event relay: deliver outbox events to their subscribers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="drain due deliveries, then exit")
        parser.add_argument(
            "--batch-size",
            type=arguments.batch_size,
            default=None,
            help="deliveries claimed at a time (default: BUS_BATCH_SIZE)",
        )
        parser.add_argument(
            "--poll",
            type=arguments.poll_seconds,
            default=None,
            help="seconds between backstop polls",
        )

    def handle(
        self, *args: Any, once: bool, batch_size: int | None, poll: float | None, **options: Any
    ) -> None:
        relay = Relay(batch_size=batch_size)
        if once:
            count = relay.drain()
            self.stdout.write(f"{count} deliveries attempted")
            return
        stop = threading.Event()
        install_stop_signals(stop)
        wake = "LISTEN/NOTIFY" if connection.vendor == "postgresql" else "polling"
        self.stdout.write(f"relay running ({wake}); Ctrl-C or SIGTERM stops it")
        relay.run_forever(poll_seconds=poll, stop=stop)
        self.stdout.write("relay stopped")
