"""Run one app's subscribers as a Kafka consumer group until SIGTERM/SIGINT."""

import logging
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecommerce.bus.management.commands.replay_events import _when
from ecommerce.bus.relay import install_stop_signals
from ecommerce.common import arguments

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Consume an app's events from Kafka (the kafka transport; docs/EVENTS.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--app", required=True, help="app label: runs its subscribers, '<label>.*'"
        )
        parser.add_argument("--group", help="consumer group id (default: topic prefix + label)")
        start = parser.add_mutually_exclusive_group()
        start.add_argument(
            "--from-beginning",
            action="store_true",
            help="re-read the topics from their start (default: from the committed offsets)",
        )
        start.add_argument(
            "--since",
            help="re-read from the messages produced at or after this time (ISO 8601; a date, "
            "or a time without offset, is UTC)",
        )
        parser.add_argument(
            "--batch-size",
            type=arguments.batch_size,
            default=None,
            help="messages read at a time (default: BUS_BATCH_SIZE)",
        )
        parser.add_argument(
            "--poll", type=arguments.poll_seconds, default=None, help="seconds per poll"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from ecommerce.bus.kafka.consumer import AppConsumer, NoSubscribers, StartAt

        start = StartAt(
            from_beginning=options["from_beginning"],
            since=_when(options["since"]) if options["since"] else None,
        )
        try:
            consumer = AppConsumer(
                options["app"],
                group_id=options["group"],
                start=start,
                batch_size=options["batch_size"],
            )
        except (NoSubscribers, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()
        install_stop_signals(stop, "consumer stopping after the message in hand")
        self.stdout.write(
            f"consuming {', '.join(consumer.topics)} as group {consumer.group_id}; "
            "Ctrl-C or SIGTERM stops it"
        )
        consumer.run(should_stop=stop.is_set, poll_seconds=options["poll"])
        self.stdout.write(f"consumer stopped after {consumer.messages_read} messages")
