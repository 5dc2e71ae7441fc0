"""Run the whole shop as one command: web server plus background workers.

Starts gunicorn on HOST:PORT, the django-q2 cluster and, once it exists, the event relay.
Ctrl-C or SIGTERM stops all of them; if one of them dies, the others are stopped too, so the
shop is never left half running.

``WEB_NICE`` runs gunicorn at a lower CPU priority than the relay and the workers. On a
machine the web side can saturate, the orders already taken (payment, stock, emails) are
then finished before new requests are served: see docs/BENCHMARKS.md, *Checkout*.
"""

import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import get_commands
from django.core.management.base import BaseCommand, CommandParser

from ecommerce.common import arguments

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Run the web server and the background workers together until Ctrl-C or SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=settings.HOST,
            help="address to listen on (default: HOST, %(default)s)",
        )
        parser.add_argument(
            "--port",
            type=arguments.whole_number(1, 65_535),
            default=settings.PORT,
            help="port to listen on (default: PORT, %(default)s)",
        )
        parser.add_argument(
            "--workers",
            type=arguments.whole_number(1, 64),
            default=settings.WEB_CONCURRENCY,
            help="gunicorn worker processes (default: WEB_CONCURRENCY, %(default)s)",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, **options: Any) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "ecommerce.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(workers),
                "--access-logfile",
                "-",
                "--graceful-timeout",
                str(STOP_GRACE_SECONDS - 5),
            ],
            "workers": [*manage, "qcluster"],
        }
        if "relay_events" in get_commands():
            commands["relay"] = [*manage, "relay_events"]

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        nicer = settings.WEB_NICE
        children = {
            name: subprocess.Popen(
                cmd,
                env=env,
                preexec_fn=(lambda: os.nice(nicer)) if name == "web" and nicer else None,
            )
            for name, cmd in commands.items()
        }
        self.stdout.write(f"Shop running on http://{host}:{port}/ ({', '.join(children)})")

        stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping the shop.")
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.2)

        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stdout.write("Shop stopped.")
        if exit_code:
            sys.exit(exit_code)
