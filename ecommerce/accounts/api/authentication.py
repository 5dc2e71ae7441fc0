"""``Authorization: Token <key>``: the API tokens of ``services.token_obtain``, found by their
digest (the key itself is never stored), refused once expired."""

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox import auth
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import exceptions

# knox's keys are 64 hex digits; those of 40 were DRF's, carried over by accounts 0002.
_TOKEN_KEY = re.compile(r"[0-9a-f]{64}|[0-9a-f]{40}")


class TokenAuthentication(auth.TokenAuthentication):
    """knox's, looking a key up by its digest (the table's primary key) in one query.

    knox also reads each of the user's other tokens at every request to delete the expired
    ones; here an expired token is refused, and the hourly purge deletes it
    (``accounts.tasks.purge_expired_tokens``). A key that cannot be a token (a NUL byte,
    which PostgreSQL refuses in a query, or any other junk) is 401 without asking the
    database."""

    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        try:
            key = token.decode()
        except UnicodeDecodeError:
            key = ""
        if not _TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        found = AuthToken.objects.select_related("user").filter(digest=hash_token(key)).first()
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if found.expiry is not None and found.expiry <= timezone.now():
            raise exceptions.AuthenticationFailed("The token has expired: sign in again.")
        if knox_settings.AUTO_REFRESH and found.expiry is not None:
            self.renew_token(found)
        return self.validate_user(found)

    def renew_token(self, auth_token: AuthToken) -> None:
        """knox's (at most once per ``MIN_REFRESH_INTERVAL``, never past
        ``AUTO_REFRESH_MAX_TTL``), as one UPDATE: a token deleted since it was read (signed
        out, a new password, in another request) is refused, where knox's save() would fail
        with a 500."""
        new_expiry = timezone.now() + knox_settings.TOKEN_TTL
        if knox_settings.AUTO_REFRESH_MAX_TTL is not None:
            new_expiry = min(new_expiry, auth_token.created + knox_settings.AUTO_REFRESH_MAX_TTL)
        if (new_expiry - auth_token.expiry).total_seconds() <= knox_settings.MIN_REFRESH_INTERVAL:
            return
        if not AuthToken.objects.filter(digest=auth_token.digest).update(expiry=new_expiry):
            raise exceptions.AuthenticationFailed("Invalid token.")
        auth_token.expiry = new_expiry


class TokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """The schema's name for it: ``Authorization: Token <key>``."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token"
        )
