"""Run the whole shop as one command: web server plus background workers.

Starts gunicorn on HOST:PORT, the django-q2 cluster and, once it exists, the event relay.
Ctrl-C or SIGTERM stops all of them; if one of them dies, the others are stopped too, so the
shop is never left half running. Each runs in a process group of its own, so a signal to the
whole group (Ctrl-C in a terminal, a container runtime's stop) reaches this command alone,
which stops each exactly once: django-q2's cluster, signalled twice while it stops, hangs.

``WEB_NICE`` runs gunicorn at a lower CPU priority than the relay and the workers. On a
machine the web side can saturate, the orders already taken (payment, stock, emails) are
then finished before new requests are served: see docs/BENCHMARKS.md, *Checkout*.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import get_commands
from django.core.management.base import BaseCommand, CommandParser

from ecommerce.common import arguments

STOP_GRACE_SECONDS = 15
PR_SET_PDEATHSIG = 1  # prctl(2)


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

        stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        # Before the first child starts: a signal arriving while they start still stops each
        # of them, rather than this command alone. SIGHUP too: the terminal closing no longer
        # reaches the children by itself.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, request_stop)

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        children = {
            name: subprocess.Popen(
                cmd,
                env=env,
                process_group=0,
                preexec_fn=_child_setup(nice=settings.WEB_NICE if name == "web" else 0),
            )
            for name, cmd in commands.items()
        }
        self.stdout.write(f"Shop running on http://{host}:{port}/ ({', '.join(children)})")

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
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within {STOP_GRACE_SECONDS} s; killed.")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)  # with its children (q2's workers)
                child.wait()
        self.stdout.write("Shop stopped.")
        if exit_code:
            sys.exit(exit_code)


def _child_setup(*, nice: int) -> Callable[[], None]:
    """Run in each child before it starts: lower its priority by ``nice``, and have it sent
    SIGTERM should this command die without stopping it (killed, out of memory), so no
    child is left serving unsupervised. The latter on Linux only."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)

    def setup() -> None:
        if nice:
            os.nice(nice)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup
