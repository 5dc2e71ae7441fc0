"""`manage.py serve`: the web server and the background workers under one supervisor."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.processes import spawn_manage, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children_of(pid: int) -> dict[int, str]:
    """Direct children of ``pid``: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def nice_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def test_serve_runs_the_web_server_nicer_than_the_workers_when_asked() -> None:
    serve = spawn_manage("serve", "--port", str(free_port()), WEB_NICE="5")
    try:
        assert wait_until(lambda: len(children_of(serve.pid)) == 3, timeout=30)
        by_role = {
            role: pid
            for pid, cmdline in children_of(serve.pid).items()
            for role in ("gunicorn", "relay_events", "qcluster")
            if role in cmdline
        }
        assert set(by_role) == {"gunicorn", "relay_events", "qcluster"}
        own = os.nice(0)
        assert nice_of(by_role["gunicorn"]) == own + 5
        assert nice_of(by_role["relay_events"]) == own
        assert nice_of(by_role["qcluster"]) == own
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_whole_process_group_stops_everything_cleanly(signum: int) -> None:
    # Ctrl-C in a terminal, a container runtime's stop, the terminal closing: the signal goes
    # to every process of the group, and serve stops each child once, none left to be killed.
    serve = spawn_manage(
        "serve", "--port", str(free_port()), stderr=subprocess.PIPE, start_new_session=True
    )
    assert wait_until(lambda: len(children_of(serve.pid)) == 3, timeout=30)
    children = list(children_of(serve.pid))

    os.killpg(serve.pid, signum)

    _, stderr = serve.communicate(timeout=30)
    assert serve.returncode == 0
    assert b"killed" not in stderr, stderr.decode()
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_a_signal_while_the_children_start_stops_each_of_them() -> None:
    # Ctrl-C pressed just as the shop starts: serve must not die from it, leaving children.
    serve = spawn_manage(
        "serve", "--port", str(free_port()), stderr=subprocess.PIPE, start_new_session=True
    )
    assert wait_until(lambda: len(children_of(serve.pid)) >= 1, timeout=30, interval=0.001)
    children = list(children_of(serve.pid))

    os.killpg(serve.pid, signal.SIGINT)

    _, stderr = serve.communicate(timeout=30)
    assert serve.returncode == 0, stderr.decode()
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_children_stop_when_serve_is_killed() -> None:
    # serve killed outright (kill -9, out of memory) cannot stop them; the kernel tells them.
    serve = spawn_manage("serve", "--port", str(free_port()))
    assert wait_until(lambda: len(children_of(serve.pid)) == 3, timeout=30)
    children = list(children_of(serve.pid))

    serve.kill()
    serve.wait()

    assert wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=30
    )
