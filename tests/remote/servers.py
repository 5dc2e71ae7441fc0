"""A tiny HTTP server standing in for another service that misbehaves: it fails a number of
requests first (a 5xx, or a pause longer than the client waits), then proxies to the real
service or answers with a canned response."""

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from ecommerce.remote.client import APP_HEADER


@dataclass
class Behaviour:
    failures: int = 0  # the first requests answered with ``failure_status``
    failure_status: int = 503
    failures_reach_target: bool = False  # the failing requests are proxied first (lost answers)
    delay: float = 0.0  # every request waits this long first
    target: str = ""  # proxy to this base URL ...
    answer: tuple[int, dict[str, str], Any] = (200, {}, {})  # ... or answer this (bytes as is)
    trickle: float = 0.0  # the answer's body goes one byte at a time, this many seconds apart
    seen: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def misbehaving_server(behaviour: Behaviour) -> Iterator[str]:
    """Run the server on a free port on 127.0.0.1; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.respond()

        def do_POST(self) -> None:
            self.respond()

        def respond(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            behaviour.seen.append((self.command, self.path))
            if behaviour.delay:
                time.sleep(behaviour.delay)
            failing = len(behaviour.seen) <= behaviour.failures
            if behaviour.target and (not failing or behaviour.failures_reach_target):
                answer = httpx.request(
                    self.command,
                    behaviour.target + self.path,
                    content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
            if failing:
                self.send(behaviour.failure_status, {}, b'{"error": "down"}')
            elif behaviour.target:
                self.send(answer.status_code, dict(answer.headers), answer.content)
            else:
                status, headers, payload = behaviour.answer
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send(status, headers, raw)

        def send(self, status: int, headers: dict[str, str], content: bytes) -> None:
            # The client may have stopped waiting (the timeout tests).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.write(status, headers, content)

        def write(self, status: int, headers: dict[str, str], content: bytes) -> None:
            self.send_response(status)
            for name in ("content-type", APP_HEADER.lower()):
                if name in {k.lower() for k in headers}:
                    value = next(v for k, v in headers.items() if k.lower() == name)
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if not behaviour.trickle:
                self.wfile.write(content)
                return
            self.wfile.flush()
            for i in range(len(content)):
                time.sleep(behaviour.trickle)
                self.wfile.write(content[i : i + 1])
                self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
