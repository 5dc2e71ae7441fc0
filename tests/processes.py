"""Run manage.py commands as separate processes against the test database."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


_spawned: list[subprocess.Popen[bytes]] = []


def stop_leftovers() -> None:
    """Kill what a test started and did not stop (it failed half way), so the next test's
    database is free."""
    while _spawned:
        proc = _spawned.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def spawn_manage(
    *args: str, stderr: int = subprocess.DEVNULL, start_new_session: bool = False, **env: str
) -> subprocess.Popen[bytes]:
    """Start ``manage.py <args>`` on the test database, with the test settings."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecommerce.settings.test",
        "DATABASE_URL": test_database_url(),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=start_new_session,
    )
    _spawned.append(proc)
    return proc


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
