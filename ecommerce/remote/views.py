"""The base of every app's internal endpoints (``/api/internal/<app>/...``).

They are for the shop's own services, not for shop clients: a caller proves it is one with
``Authorization: Service <SERVICE_TOKEN>`` (anything else is 403 ``permission_denied``), they
are not throttled (all of a service's calls come from a few addresses), and they are left out
of the public OpenAPI schema. Each runs its app's services in this process (``serving``) and
names the app in its answer's ``Service-App`` header.
"""

import hmac
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecommerce.bus import codec
from ecommerce.remote import serving
from ecommerce.remote.client import APP_HEADER, AUTH_SCHEME


class HasServiceToken(BasePermission):
    message = "This endpoint is for the shop's own services."

    def has_permission(self, request: Request, view: APIView) -> bool:
        expected = settings.SERVICE_TOKEN
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        # An empty SERVICE_TOKEN lets nobody in; the comparison takes the same time whatever
        # the token sent, so it cannot be guessed one character at a time.
        return (
            bool(expected)
            and scheme == AUTH_SCHEME
            and hmac.compare_digest(token.encode(), expected.encode())
        )


class InternalAPIView(APIView):
    """Subclasses set ``app`` and call that app's services; DTOs go out by ``dto_response``."""

    app: ClassVar[str]
    authentication_classes = ()
    permission_classes = (HasServiceToken,)
    throttle_classes = ()
    schema = None  # not part of the public API

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with serving(self.app):
            response = super().dispatch(request, *args, **kwargs)
        response[APP_HEADER] = self.app
        return response


def dto_response(value: Any, status: int = 200) -> Response:
    """A DTO (or a list of them) as JSON, exactly as the codec reads it back on the other side."""
    return Response(codec.encode(value), status=status)
