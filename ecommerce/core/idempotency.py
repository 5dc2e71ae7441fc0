"""``Idempotency-Key`` for POST endpoints that move money (docs/IDEMPOTENCY.md).

Decorate the APIView method::

    class CartCheckoutView(APIView):
        @extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER], ...)
        @idempotent
        def post(self, request: Request, cart_id: UUID) -> Response: ...

A request with the header runs in one transaction that first inserts the (caller, key) row,
then runs the view, then stores the response in that row. So:

- the same key with the same request returns the stored first response, and the use case
  does not run again (``Idempotent-Replayed: true`` marks the replay);
- the same key with another method, path or body is 409 ``idempotency_key_reused``;
- a duplicate sent while the first is still running waits on the row's unique index and then
  gets the replay: the use case never runs twice;
- an error response stores nothing (the transaction rolls back with the use case's own
  changes), so the caller may retry with the same key;
- keys are scoped to the caller and live ``KEY_TTL``; an older key starts over.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec
from uuid import uuid4

from django import forms
from django.core.signing import BadSignature, TimestampSigner
from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ecommerce.common.db import all_or_nothing, db_value, save_fields
from ecommerce.common.errors import DomainError
from ecommerce.common.parsers import CSRF_FIELD
from ecommerce.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
CART_TOKEN_HEADER = "X-Cart-Token"
MAX_KEY_LENGTH = 255
KEY_TTL = timedelta(days=1)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique value per intended operation (a UUID is good). Repeating the request with "
        "the same key returns the first response; another request with the same key is 409 "
        "idempotency_key_reused. Keys are kept for a day."
    ),
)


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = status.HTTP_409_CONFLICT
    default_detail = "This Idempotency-Key was already used for a different request."


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    status = status.HTTP_400_BAD_REQUEST
    default_detail = f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible characters."


def valid_key(key: str) -> str:
    """The key as sent, if it is one: 1 to ``MAX_KEY_LENGTH`` visible characters, no
    surrounding spaces. Raises ``InvalidIdempotencyKey`` (never shortens it: two long keys
    cut to the same start would be one key)."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable() or key.strip() != key:
        raise InvalidIdempotencyKey()
    return key


def user_scope(request: Request) -> str | None:
    """The signed-in user's keys, whatever else the request sends (staff endpoints)."""
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return None


def caller_scope(request: Request) -> str | None:
    """Whose keys these are: the holder of the cart token sent, signed in or not, else the
    signed-in user. The token comes first so that a checkout retried after the shopper
    signed in (or their sign-in lapsed) on the way is still a retry of the same request."""
    token = request.headers.get(CART_TOKEN_HEADER)
    if token:
        return f"cart:{hashlib.sha256(token.encode()).hexdigest()}"
    return user_scope(request)


def request_fingerprint(request: Request) -> str:
    """sha256 of method, path and the body as canonical JSON (key order and spacing ignored).
    A form's CSRF token is left out: Django masks it afresh on every page, and it is no part
    of what was asked."""
    data: Any = request.data
    if isinstance(data, QueryDict):
        data = dict(data.lists())
    if isinstance(data, dict) and CSRF_FIELD in data:
        data = {k: v for k, v in data.items() if k != CSRF_FIELD}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


P = ParamSpec("P")
ViewMethod = Callable[Concatenate[Any, Request, P], Response]


def idempotent(method: ViewMethod[P]) -> ViewMethod[P]:
    """Make an APIView method honour the ``Idempotency-Key`` header (see the module doc),
    with keys scoped to the caller (``caller_scope``)."""
    return idempotent_by(caller_scope)(method)


def idempotent_by(
    scope_of: Callable[[Request], str | None],
) -> Callable[[ViewMethod[P]], ViewMethod[P]]:
    """``idempotent``, with keys scoped by ``scope_of`` (``user_scope`` for staff)."""
    return functools.partial(_idempotent, scope_of=scope_of)


def _idempotent(
    method: ViewMethod[P], *, scope_of: Callable[[Request], str | None]
) -> ViewMethod[P]:
    @functools.wraps(method)
    def wrapper(view: Any, request: Request, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        key = request.headers.get(HEADER)
        scope = scope_of(request)
        if key is None or scope is None:
            # Without a key there is nothing to deduplicate; without a caller there is no one
            # to scope the key to (such a request is refused by the view's own checks anyway).
            return method(view, request, *args, **kwargs)
        valid_key(key)
        fingerprint = request_fingerprint(request)

        # All or nothing: an error response stores nothing, so the use case needs no savepoint.
        with all_or_nothing():
            record = _claim(scope=scope, key=key, fingerprint=fingerprint)
            if record.response_status is not None:
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return Response(
                    record.response_body,
                    status=record.response_status,
                    headers={REPLAYED_HEADER: "true"},
                )
            response = method(view, request, *args, **kwargs)
            if status.is_success(response.status_code):
                # Stored as the client saw it: rendered JSON, read back.
                body = json.loads(JSONRenderer().render(response.data))
                _remember(record, response.status_code, body)
            else:
                # Nothing was done, so nothing is remembered: the key may be used again.
                transaction.set_rollback(True)
            return response

    return wrapper


def run_once(*, scope: str, key: str, fingerprint: str, run: Callable[[], Any]) -> tuple[Any, bool]:
    """``@idempotent`` for callers that are not API views (an admin form): run ``run`` at most
    once per ``(scope, key)``, in one transaction with the key, and remember what it returned
    (JSON). Returns that and whether this call was a repeat, which runs nothing.

    ``fingerprint`` says what was asked: a repeat asking something else is
    ``IdempotencyKeyReused``. An error ``run`` raises rolls back all of it and remembers
    nothing, so the key may be used again.
    """
    valid_key(key)
    with all_or_nothing():
        record = _claim(scope=scope, key=key, fingerprint=fingerprint)
        if record.response_status is not None:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            return record.response_body, True
        result = run()
        _remember(record, status.HTTP_200_OK, result)
        return result, False


class OnceFormField(forms.CharField):
    """A hidden field that makes a form count once, with ``run_once`` keyed by its value: a
    fresh id (``OnceFormField.fresh()``) signed with the time the form was shown. A form older
    than ``KEY_TTL`` is refused as out of date: the key its first submit left may be gone,
    and sent again it would run again."""

    OUT_OF_DATE = "This form is out of date; open the page again."
    _signer = TimestampSigner(salt="ecommerce.core.idempotency.OnceFormField")

    def __init__(self, **kwargs: Any) -> None:
        messages = {"required": self.OUT_OF_DATE}
        super().__init__(widget=forms.HiddenInput, error_messages=messages, **kwargs)

    @classmethod
    def fresh(cls) -> str:
        return cls._signer.sign(uuid4().hex)

    def clean(self, value: Any) -> str:
        signed = super().clean(value)
        try:
            return str(self._signer.unsign(signed, max_age=KEY_TTL))
        except BadSignature as exc:  # tampered with, or too old (SignatureExpired)
            raise forms.ValidationError(self.OUT_OF_DATE, code="out_of_date") from exc


def _remember(record: IdempotencyKey, response_status: int, body: Any) -> None:
    record.response_status = response_status
    record.response_body = body
    save_fields(record, "response_status", "response_body")


_CLAIM_SQL = f"""
    INSERT INTO {IdempotencyKey._meta.db_table} (scope, "key", fingerprint, created_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (scope, "key") DO NOTHING
    RETURNING id
"""


def _claim(*, scope: str, key: str, fingerprint: str) -> IdempotencyKey:
    """Insert the (scope, key) row if it is new, then lock it; returns it.

    A committed row always holds a response, because it is written in the same transaction
    as the use case. The insert of a duplicate waits on the unique index while the first
    request's transaction is open, so a row found here without a response is our own.
    """
    now = timezone.now()
    created_at = db_value(IdempotencyKey, "created_at", now)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [scope, key, fingerprint, created_at])
            inserted = cursor.fetchone()
        if inserted is not None:
            # A new key, the common case: the row is ours, locked by our insert until commit.
            record = IdempotencyKey(
                id=inserted[0], scope=scope, key=key, fingerprint=fingerprint, created_at=now
            )
            record._state.adding = False
            return record
        found = IdempotencyKey.objects.select_for_update().filter(scope=scope, key=key).first()
        if found is not None:
            break
        # The purge deleted the expired row between the insert and the read (the insert
        # took no lock on it): the key is new again, insert it.
    record = found
    if record.response_status is not None and record.created_at < now - KEY_TTL:
        # Expired (not purged yet): the key starts over as a new request.
        record.fingerprint = fingerprint
        record.created_at = now
        record.response_status = None
        record.response_body = None
        record.save()
    return record


def purge_expired_keys() -> int:
    """Delete keys older than ``KEY_TTL``. Returns how many were deleted."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEY_TTL).delete()
    return deleted
