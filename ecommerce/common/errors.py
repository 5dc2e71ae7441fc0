"""Domain errors and the one API error shape.

Services raise :class:`DomainError` subclasses with a stable ``code``; the DRF exception
handler below turns them, and every other error, into::

    {"type": "client_error", "errors": [{"code": "out_of_stock", "detail": "...", "attr": null}]}
"""

import logging
from typing import Any, ClassVar

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from drf_standardized_errors.handler import exception_handler as standardized_exception_handler
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ecommerce.common.retry import is_transient_database_error

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule said no. ``code`` is what clients switch on; ``status`` the HTTP answer."""

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = status.HTTP_409_CONFLICT
    default_detail: ClassVar[str] = "The request conflicts with the current state."
    # What ``attr`` holds in the OpenAPI schema's example: null, or a sample of what the error
    # names (a field, or the product that ran out).
    example_attr: ClassVar[str | None] = None

    def __init__(self, detail: str | None = None, *, attr: str | None = None) -> None:
        self.detail = detail or self.default_detail
        self.attr = attr
        super().__init__(self.detail)


class NotFound(DomainError):
    code = "not_found"
    status = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."


class ServiceUnavailable(DomainError):
    """Another app's service did not answer in time (or answered 5xx) when called over HTTP.

    The call may be tried again later; nothing the caller did in its own transaction stays.
    """

    code = "service_unavailable"
    status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is not available; try again shortly."


class ServiceCallFailed(DomainError):
    """Another app's service refused a call for a reason the caller cannot act on: a wrong
    service token or URL, or a request it does not understand. A misconfiguration or a bug."""

    code = "service_call_failed"
    status = status.HTTP_502_BAD_GATEWAY
    default_detail = "A service this request needs refused the call."


DATABASE_RETRY_AFTER_SECONDS = 1
DATABASE_UNAVAILABLE = "The database could not serve this request; try again shortly."
REQUEST_TOO_LARGE = "request_too_large"
REQUEST_TOO_LARGE_DETAIL = "The request body is larger than this API accepts."


def exception_handler(exc: Exception, context: Any) -> Response | None:
    if isinstance(exc, SuspiciousOperation):
        # Django's own limits, met while DRF reads the body: Django answers these 400 itself,
        # the standard handler would make them a 500.
        if isinstance(exc, RequestDataTooBig):
            body = _error_body("client_error", REQUEST_TOO_LARGE, REQUEST_TOO_LARGE_DETAIL)
            return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        body = _error_body("client_error", "bad_request", "The request is malformed.")
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if is_transient_database_error(exc):
        # The database went away under the request (a connection terminated, a failover, a
        # server restarting) or gave way (a deadlock, a lock timeout): nothing of it stays
        # unless it had committed, and the same request tried again will likely succeed.
        # Django replaces a broken connection once the request is finished.
        request = context.get("request")
        logger.error("database error under %s", getattr(request, "path", "a request"), exc_info=exc)
        body = _error_body("server_error", ServiceUnavailable.code, DATABASE_UNAVAILABLE)
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    if isinstance(exc, DomainError):
        if exc.attr is not None and exc.status == status.HTTP_400_BAD_REQUEST:
            # A problem with one field of the input reads like any other validation error.
            exc = ValidationError({exc.attr: [ErrorDetail(exc.detail, code=exc.code)]})
        else:
            set_rollback()
            error_type = "server_error" if exc.status >= 500 else "client_error"
            body = _error_body(error_type, exc.code, exc.detail, exc.attr)
            return Response(body, status=exc.status)
    return standardized_exception_handler(exc, context)


def _error_body(error_type: str, code: str, detail: str, attr: str | None = None) -> dict[str, Any]:
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(_error_body("client_error", "not_found", "Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    body = _error_body("server_error", "error", "A server error occurred.")
    return JsonResponse(body, status=500)
