"""Admin pieces more than one app's admin needs."""

import functools
import operator
import uuid
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import (
    NotRelationField,
    get_fields_from_path,
    lookup_spawns_duplicates,
)
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from ecommerce.common.errors import DomainError

# Rows one admin action works through in one request. Each row is a service call (an event,
# an email, a gateway call), so a select-all over a large table would run for minutes and
# time out part-way; over this many, the action refuses and changes nothing.
ACTION_LIMIT = 1_000

Action = TypeVar("Action", bound=Callable[..., Any])


def bounded(action: Action) -> Action:
    """An admin action that refuses, with a message and nothing changed, a selection of more
    than ``ACTION_LIMIT`` rows (staff narrow the list with its filters and run it again).
    Counting stops at the limit, so asking costs the same over any table."""

    @wraps(action)
    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
        if queryset.order_by()[: ACTION_LIMIT + 1].count() > ACTION_LIMIT:
            modeladmin.message_user(
                request,
                f"More than {ACTION_LIMIT:,} selected; nothing was done. An action works "
                f"through at most {ACTION_LIMIT:,} at a time: narrow the list with its "
                "filters or search, then run it again.",
                messages.ERROR,
            )
            return None
        return action(modeladmin, request, queryset)

    return run  # type: ignore[return-value]


class ChangedFieldsOnly(admin.ModelAdmin):
    """A change form whose save writes only the fields its user changed.

    Django compares a posted change form with the row as it is at the save, so a form opened
    before another staff member's change sends that change's old values back as edits, and
    saving a typo fix would quietly undo a price change made meanwhile. Here each field also
    sends the value it was shown with (Django's ``show_hidden_initial``), so
    ``form.changed_data`` holds what this user edited, and ``save_model`` writes those fields.

    An edited field that someone changed meanwhile is refused (reload to edit it), unless it
    already holds what this form asks: the same form sent again after it was saved and
    another change (a price set back, a second price drop published) changes nothing.
    """

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form: type[forms.ModelForm] = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form

        class ComparedWithWhatWasShown(form):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                for field in self.fields.values():
                    field.show_hidden_initial = True

            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                # A field this user did not edit keeps the row's value as it is now: the
                # value shown long ago is neither checked (a slug someone reused since) nor
                # written.
                many = {f.name for f in self.instance._meta.many_to_many}
                for name in self.fields:
                    if name not in self.changed_data and name in many:
                        cleaned[name] = getattr(self.instance, name).all()
                    elif name not in self.changed_data and hasattr(self.instance, name):
                        cleaned[name] = getattr(self.instance, name)
                    elif name in self.changed_data and self._changed_meanwhile(name):
                        now = getattr(self.instance, name)
                        self.add_error(
                            name,
                            f"Changed by someone else since this page was opened (now "
                            f"{now if now not in (None, '') else 'empty'}); reload the page "
                            "to edit it.",
                        )
                return cleaned

            def _changed_meanwhile(self, name: str) -> bool:
                """Whether the row's value is no longer the one this form was shown, nor
                the one it sends."""
                if self.add_initial_prefix(name) not in self.data:
                    # Nothing to go by: posted by other means than the page, or a field
                    # whose shown value posts nothing (an empty multiple select) or posts in
                    # parts (a date and a time).
                    return False
                field = self.fields[name]
                now = _as_posted(forms.models.model_to_dict(self.instance, [name]).get(name))
                shown = field.hidden_widget().value_from_datadict(
                    self.data, self.files, self.add_initial_prefix(name)
                )
                sent = field.widget.value_from_datadict(
                    self.data, self.files, self.add_prefix(name)
                )
                return field.has_changed(now, _as_posted(shown)) and field.has_changed(
                    now, _as_posted(sent)
                )

        ComparedWithWhatWasShown.__name__ = form.__name__
        return ComparedWithWhatWasShown


def _as_posted(value: Any) -> Any:
    """Text as a form field reads it, whoever wrote it: browsers send line breaks as CRLF
    (the API stores what it is sent), and the field strips the ends."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip()
    return value


class RefusalsAsMessages(admin.ModelAdmin):
    """A save the services refuse (a rule the form does not know, or a slug another staff
    member took meanwhile) rolls back and comes back to the same page with its message,
    rather than as a server error."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, f"Nothing was saved: {exc.detail}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def choices_filter(
    field: str, title: str, choices: Callable[[], Iterable[str]]
) -> type[admin.SimpleListFilter]:
    """A list filter on ``field`` whose choices come from the code (the event types, the
    subscribers) rather than Django's DISTINCT over the whole table, which a log of a
    million rows paid for on every page (110-220 ms)."""

    class ChoicesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return [(choice, choice) for choice in sorted(choices())]

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            return queryset if value is None else queryset.filter(**{field: value})

    ChoicesFilter.title = title
    ChoicesFilter.__name__ = f"{field.title().replace('_', '')}Filter"
    return ChoicesFilter


class IdSearch(admin.ModelAdmin):
    """Search by id with the id's index.

    Django's ``"=field"`` search compares case-insensitively, which for a UUID on PostgreSQL
    is ``UPPER(id::text) = UPPER(term)``, and ORs that with the other fields' ``LIKE``: a scan
    of the whole table on every search, and these tables (payments, events, reservations)
    grow with every order. Here a search that is a UUID matches the ``"=field"`` UUID fields
    exactly, and the text fields that hold UUIDs (``uuid_text_fields``, say an event's
    aggregate id) as their text; no email or SKU is a UUID, so the other fields are not
    searched for one. Any other search goes to every other field, as Django's does.
    """

    uuid_text_fields: tuple[str, ...] = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        fields = self.get_search_fields(request)
        ids = [f[1:] for f in fields if f.startswith("=") and _is_uuid_field(self.model, f[1:])]
        try:
            wanted = uuid.UUID(search_term.strip())
        except ValueError:
            # Django's search over the other fields, by an admin that has only those.
            text = [f for f in fields if f[1:] not in ids or not f.startswith("=")]
            if not text and search_term.strip():
                return queryset.none(), False
            others = type("TextSearch", (admin.ModelAdmin,), {"search_fields": text})
            return others(self.model, self.admin_site).get_search_results(
                request, queryset, search_term
            )
        matches = [Q(**{name: wanted}) for name in ids]
        matches += [self.uuid_text_match(name, str(wanted)) for name in self.uuid_text_fields]
        names = [*ids, *self.uuid_text_fields]
        duplicates = any(lookup_spawns_duplicates(self.opts, name) for name in names)
        return queryset.filter(functools.reduce(operator.or_, matches, Q(pk__in=[]))), duplicates

    def uuid_text_match(self, name: str, text: str) -> Q:
        """The condition a UUID searched for puts on one of ``uuid_text_fields``."""
        return Q(**{name: text})


def _is_uuid_field(model: type[Any], path: str) -> bool:
    try:
        return isinstance(get_fields_from_path(model, path)[-1], models.UUIDField)
    except (FieldDoesNotExist, NotRelationField):
        return False


class ReadOnlyAdmin(IdSearch):
    """Records staff look at and never change here: ledgers, logs, order records."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """A record's rows shown on its page, as they are: every field read-only, none added.

    The first ``shown`` of them, and the title says how many there are: a cart of 10,000
    lines made a 13 MB page.
    """

    extra = 0
    can_delete = False
    shown = 100

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        shown = self.shown

        class FirstRows(formset):  # type: ignore[valid-type,misc]
            def get_queryset(self) -> QuerySet:
                return super().get_queryset()[:shown]

        if obj is not None:
            total = formset(instance=obj).get_queryset().count()
            if total > shown:
                # Inlines are made anew for each request, so this names this page's rows.
                self.verbose_name_plural = (
                    f"{self.verbose_name_plural or self.model._meta.verbose_name_plural} "
                    f"(the first {shown} of {total:,})"
                )
        FirstRows.__name__ = formset.__name__
        return FirstRows

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyWithActions(IdSearch):
    """Records staff look at but never edit, with actions that change them through the
    services (refund, resend, retry).

    Django's actions ask for the "change" permission, and a change permission on a record
    also gives its page a Save button, which would write the whole row back as it was
    loaded: over a refund or a delivery that landed meanwhile. So "change" is granted for the
    list's actions only, by ``has_action_permission``; each record's page is view-only, and a
    POST to it is refused.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and self.has_action_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_action_permission(request)

    def has_action_permission(self, request: HttpRequest) -> bool:
        """Who may run the actions: the model's change permission unless overridden."""
        return super().has_change_permission(request)
