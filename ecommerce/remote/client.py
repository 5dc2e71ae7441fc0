"""An app's internal API seen from another process: timeouts, retries, errors mapped back.

Each app's ``http_client`` module builds on :class:`ServiceClient`: it names the endpoint,
sends the arguments, turns the JSON back into the DTO and tells which error codes are which of
its domain exceptions. What this module adds is the same for every app:

- one ``httpx.Client`` per base URL for the whole process, so connections are reused;
- a timeout per attempt (``SERVICE_TIMEOUT_SECONDS``): for the connection, for each read of
  the status line and headers, and for the whole body, so a service trickling its body
  cannot hold the caller (and the row locks of its transaction) for longer;
- retries with exponential backoff and equal jitter (``SERVICE_RETRIES``,
  ``SERVICE_BACKOFF_SECONDS``) for calls that are safe to repeat: reads, and writes that are
  idempotent by key. Any other call is retried only when the connection was never made
  (nothing was sent);
- the error shape back into exceptions: a domain ``code`` into the app's exception class;
  no answer, a 5xx or a timeout into ``ServiceUnavailable`` (503); anything else (a wrong
  token, a URL that is not the app's internal API, a 2xx that does not come from the app or
  is not JSON) into ``ServiceCallFailed`` (502).
"""

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
from django.conf import settings

from ecommerce.bus import codec
from ecommerce.common.errors import DomainError, ServiceCallFailed, ServiceUnavailable

logger = logging.getLogger(__name__)

AUTH_SCHEME = "Service"
# Internal endpoints name their app in every answer, so an error from anything else (a proxy,
# another server at a wrong URL) is never mistaken for the app's own "not found".
APP_HEADER = "Service-App"

_RETRYABLE_STATUS = frozenset({502, 503, 504})

ErrorClasses = Mapping[str, type[DomainError]]
T = TypeVar("T")

_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def backoff_seconds(attempt: int) -> float:
    """Before retry ``attempt`` (1, 2, ...): between half and all of base * 2^(attempt-1)."""
    ceiling = settings.SERVICE_BACKOFF_SECONDS * 2 ** (attempt - 1)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class ServiceClient:
    """Calls ``app``'s internal endpoints at ``base_url``.

    ``errors`` maps the app's error codes to its exception classes; a call may add its own
    (``not_found`` means a different class for each resource).
    """

    def __init__(self, app: str, base_url: str, *, errors: ErrorClasses) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.errors = errors

    def get(self, path: str, *, errors: ErrorClasses | None = None) -> Any:
        return self.call("GET", path, idempotent=True, errors=errors)

    def post(
        self, path: str, body: Any, *, idempotent: bool, errors: ErrorClasses | None = None
    ) -> Any:
        return self.call("POST", path, body=body, idempotent=idempotent, errors=errors)

    def lookup(self, path: str, field: str, values: Sequence[Any], *, batch: int) -> list[Any]:
        """A read by many values (ids), POSTed as ``{field: [...]}`` in batches of ``batch``,
        the most the endpoint takes; the answers' lists joined (no call for no values)."""
        found: list[Any] = []
        for start in range(0, len(values), batch):
            body = {field: list(values[start : start + batch])}
            found += self.post(path, body, idempotent=True)
        return found

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        idempotent: bool,
        errors: ErrorClasses | None = None,
    ) -> Any:
        """Send the request, retrying what may be retried; the JSON body of a 2xx answer."""
        url = f"{self.base_url}/api/internal/{self.app}/{path}"
        if not settings.SERVICE_TOKEN:
            logger.error("%s %s: SERVICE_TOKEN is not set", method, url)
            raise ServiceCallFailed(f"No SERVICE_TOKEN to call the {self.app} service with.")
        attempts = 1 + max(settings.SERVICE_RETRIES, 0)
        for attempt in range(1, attempts + 1):
            try:
                response = self._send(method, url, body)
            except httpx.TransportError as exc:
                # No connection means nothing was sent, so any call may go again; once the
                # request may have arrived, only a call that is safe to repeat goes again.
                retry = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                problem = f"no answer ({type(exc).__name__})"
            else:
                if response.is_success:
                    return self._answer(response)
                if response.status_code < 500:
                    raise self._error(response, {**self.errors, **(errors or {})})
                retry = idempotent and response.status_code in _RETRYABLE_STATUS
                problem = f"status {response.status_code}"
            if not retry or attempt == attempts:
                logger.warning(
                    "%s %s failed after %d attempt(s): %s", method, url, attempt, problem
                )
                raise ServiceUnavailable(f"The {self.app} service is not available ({problem}).")
            time.sleep(backoff_seconds(attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _send(self, method: str, url: str, body: Any) -> httpx.Response:
        """One attempt, its body read in full within ``SERVICE_TIMEOUT_SECONDS`` (httpx's own
        timeout bounds each read, not their sum)."""
        timeout = settings.SERVICE_TIMEOUT_SECONDS
        deadline = time.monotonic() + timeout
        request = _http_client(self.base_url).build_request(
            method,
            url,
            json=body,
            headers={"Authorization": f"{AUTH_SCHEME} {settings.SERVICE_TOKEN}"},
            timeout=timeout,
        )
        streamed = _http_client(self.base_url).send(request, stream=True)
        try:
            chunks = []
            for chunk in streamed.iter_raw():  # as sent: the new response decodes it
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the answer took too long to arrive", request=request)
        finally:
            streamed.close()
        return httpx.Response(
            streamed.status_code,
            headers=streamed.headers,
            content=b"".join(chunks),
            request=request,
        )

    def _answer(self, response: httpx.Response) -> Any:
        if elsewhere := self._not_from_the_app(response):
            raise elsewhere
        try:
            return response.json()
        except ValueError as exc:
            logger.error("%s: %d, not JSON", _where(response), response.status_code)
            raise ServiceCallFailed(f"The {self.app} service answered with no JSON.") from exc

    def _not_from_the_app(self, response: httpx.Response) -> ServiceCallFailed | None:
        """The error for an answer that does not name the app (a proxy's, a wrong URL's)."""
        if response.headers.get(APP_HEADER) == self.app:
            return None
        logger.error("%s: %d, not from %s", _where(response), response.status_code, self.app)
        return ServiceCallFailed(f"The {self.app} service URL does not lead to its API.")

    def _error(self, response: httpx.Response, errors: ErrorClasses) -> DomainError:
        if elsewhere := self._not_from_the_app(response):
            return elsewhere
        where = _where(response)
        try:
            error = response.json()["errors"][0]
            code, detail, attr = str(error["code"]), str(error["detail"]), error.get("attr")
        except (ValueError, LookupError, TypeError):
            code, detail, attr = "", response.text[:200], None
        exception_class = errors.get(code)
        if exception_class is None:
            logger.error("%s refused: %d %s %s", where, response.status_code, code, detail)
            return ServiceCallFailed(f"The {self.app} service refused the call ({code or '?'}).")
        return exception_class(detail, attr=attr)


def _where(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url}"


def decode(tp: type[T], data: Any) -> T:
    """What an internal endpoint sent (``dto_response``) back into ``tp``, e.g. a DTO class."""
    try:
        value: T = codec.decode(tp, data)
    except codec.DecodeError as exc:
        raise ServiceCallFailed(f"A service answered with something unexpected: {exc}") from exc
    return value


def _http_client(base_url: str) -> httpx.Client:
    """The process's one client for ``base_url``: its connection pool is shared by threads."""
    with _clients_lock:
        client = _clients.get(base_url)
        if client is None:
            client = _clients[base_url] = httpx.Client(
                headers={"User-Agent": "shop-service-client"}
            )
        return client


def close_clients() -> None:
    """Close every pooled connection (at shutdown, or when a test's server goes away)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
