"""Calling another app's services when that app runs in another process.

Apps call each other through ``apps.<app>.services``. When an app runs as a service of its
own, each process that calls it names it in ``SERVICE_URLS``; the app's ``services.py`` then
sends the calls it offers other apps to its internal endpoints (``/api/internal/<app>/...``)
through the app's private ``http_client`` module, which returns the same DTOs and raises the
same domain errors, so a caller cannot tell the difference (docs/SPLITTING.md).

- ``service_url(app)``: the base URL ``app`` answers at, or ``None`` when it runs here.
- ``serving(app)``: marks code that runs on ``app``'s behalf (its internal endpoints, its event
  handlers): inside it, ``app``'s own services always run in this process. A process that
  serves an app has no ``SERVICE_URLS`` entry for it anyway; this also keeps a test that plays
  every service in one process, or a misconfigured entry, from calling itself over HTTP.
- ``client.ServiceClient`` (the HTTP side) and ``views.InternalAPIView`` (the endpoints' base).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

_serving: ContextVar[frozenset[str]] = ContextVar("serving", default=frozenset())


def service_url(app: str) -> str | None:
    """Where ``app``'s services answer when they run in another process; ``None`` otherwise."""
    if app in _serving.get():
        return None
    url: str | None = settings.SERVICE_URLS.get(app) or None
    return url


@contextmanager
def serving(app: str) -> Iterator[None]:
    """Run the block as ``app``: its services are called in this process."""
    token = _serving.set(_serving.get() | {app})
    try:
        yield
    finally:
        _serving.reset(token)


__all__ = ["service_url", "serving"]
