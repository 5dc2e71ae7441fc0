"""Health check, Django's own error pages answering in the API's error shape under /api/,
and the admin's sign-in page with its attempts limited."""

from typing import Any, cast

from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from ecommerce.bus import operations
from ecommerce.common.errors import json_not_found, json_server_error
from ecommerce.common.tasks import schedules_overdue_seconds


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_server_error(request)
    return defaults.server_error(request)


@csrf_exempt  # a client's POST to a wrong URL is a 404 to it, not a CSRF page
def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any unknown URL under /api/, whatever DEBUG says."""
    return json_not_found(request)


# ``bus.status`` and ``tasks.status`` (HealthStateEnum in the OpenAPI schema).
HEALTH_STATES = ["ok", "degraded"]
# A due delivery waiting longer than this means no relay is keeping up (or none runs).
BUS_LAG_DEGRADED_SECONDS = 60
# A schedule overdue this long means no django-q2 cluster runs: charges, emails and the
# reservation expiry wait.
TASKS_OVERDUE_DEGRADED_SECONDS = 120


class HealthView(APIView):
    """Is the shop up? Checks the database with a real query and reports the bus backlog
    and whether background tasks run.

    200 with ``status`` ``ok`` when the site serves (a load balancer keeps it in rotation);
    503 ``error`` when the database or the bus's tables cannot be read. ``bus.status`` is
    ``degraded`` when orders will not move on by themselves: a dead delivery waits for an
    operator, or a due one has waited over a minute (the relay is down or far behind).
    ``tasks.status`` is ``degraded`` when a django-q2 schedule has been overdue for two
    minutes: no cluster runs, so charges, emails and the reservation expiry wait. Both are
    for a monitor to alert on.
    """

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    @extend_schema(
        operation_id="health",
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "bus": inline_serializer(
                        "BusHealth",
                        {
                            "pending": serializers.IntegerField(),
                            "dead": serializers.IntegerField(),
                            "oldest_due_seconds": serializers.FloatField(allow_null=True),
                            "status": serializers.ChoiceField(choices=HEALTH_STATES),
                        },
                    ),
                    "tasks": inline_serializer(
                        "TasksHealth",
                        {
                            "overdue_seconds": serializers.FloatField(allow_null=True),
                            "status": serializers.ChoiceField(choices=HEALTH_STATES),
                        },
                    ),
                },
            ),
            503: inline_serializer(
                "HealthError",
                {
                    "status": serializers.ChoiceField(choices=["error"]),
                    "database": serializers.CharField(help_text='"ok", or "error: <kind>".'),
                    "bus": serializers.CharField(required=False, help_text='"error: <kind>".'),
                    "tasks": serializers.CharField(required=False, help_text='"error: <kind>".'),
                },
            ),
        },
    )
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as exc:  # the database being down is exactly what this reports
            body = {"status": "error", "database": f"error: {exc.__class__.__name__}"}
            return Response(body, status=503)
        # Up, but the bus's or django-q2's tables cannot be read (not migrated yet, a
        # statement timeout, the connection dropped since): not healthy either.
        part = "bus"
        try:
            backlog = operations.backlog()
            part = "tasks"
            overdue = schedules_overdue_seconds()
        except Exception as exc:
            body = {"status": "error", "database": "ok", part: f"error: {exc.__class__.__name__}"}
            return Response(body, status=503)
        lag = backlog["oldest_due_seconds"]
        stuck = backlog["dead"] or (lag is not None and lag > BUS_LAG_DEGRADED_SECONDS)
        bus = {**backlog, "status": "degraded" if stuck else "ok"}
        idle = overdue is not None and overdue > TASKS_OVERDUE_DEGRADED_SECONDS
        tasks = {"overdue_seconds": overdue, "status": "degraded" if idle else "ok"}
        return Response({"status": "ok", "database": "ok", "bus": bus, "tasks": tasks})


class _AdminSignInThrottle(SimpleRateThrottle):
    """The API's sign-in limit (``THROTTLE_AUTH_RATE``, per client address), counted apart."""

    scope = "auth"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": "admin-sign-in", "ident": self.get_ident(request)}


def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """The admin's sign-in page, with its attempts limited as the API's are: the admin signs
    in staff, whose passwords are worth guessing most."""
    if request.method == "POST":
        throttle = _AdminSignInThrottle()
        # DRF's throttle, outside a DRF view: its key needs the client's address only.
        if not throttle.allow_request(Request(request), cast(APIView, None)):
            wait = throttle.wait()
            retry_after = f"{int(wait) + 1}" if wait is not None else "60"
            response = HttpResponse(
                f"Too many sign-in attempts. Try again in {retry_after} seconds.",
                status=429,
                content_type="text/plain",
            )
            response["Retry-After"] = retry_after
            return response
    return admin.site.login(request)
