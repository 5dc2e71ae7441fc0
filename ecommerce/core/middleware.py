"""Middleware of the shop's own."""

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse


def refuse_nul_in_path(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A path holding a NUL (``%00``) names nothing: no id the shop keeps can hold one, and
    PostgreSQL refuses it in text. 404 (JSON under /api/) before any view looks it up: an
    admin page of a third party's model keyed by text (django-q2's tasks, knox's tokens)
    would ask the database with it and answer 500."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            raise Http404("No such page.")
        return get_response(request)

    return middleware
