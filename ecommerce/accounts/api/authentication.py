"""``Authorization: Token <key>``, as DRF reads it, with keys of the wrong form refused up
front."""

import re
from typing import Any

from rest_framework import authentication, exceptions

# What DRF's tokens are: 40 hex digits (``Token.generate_key``).
_TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's, except that a key that cannot be a token (a NUL byte, which PostgreSQL refuses
    in a query, or any other junk) is 401 without asking the database."""

    def authenticate_credentials(self, key: str) -> Any:
        if not _TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
