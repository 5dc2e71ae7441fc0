"""Webhook signatures: ``X-Signature: t=<unix time>,v1=<hex>``.

``v1`` is HMAC-SHA256, keyed with the webhook secret, over ``"<t>.<raw body>"``. The time is
checked first, so an old (replayed) message is refused before any other work; several ``v1``
values are allowed, so a secret can be rotated without refusing messages in flight.
"""

import hashlib
import hmac
import re
import time

from apps.payments.gateways import InvalidWebhook

HEADER = "X-Signature"
# What ``compute`` produces. Anything else cannot match, and hmac.compare_digest raises
# TypeError on a str that is not ASCII, so such values are dropped while parsing.
# ASCII digits only: str.isdigit() also takes "²", which int() refuses.
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def compute(body: bytes, *, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The header value a sender puts on ``body`` (the gateway does this; tests and docs too)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={compute(body, secret=secret, timestamp=timestamp)}"


def verify(
    body: bytes, header: str | None, *, secret: str, tolerance: int, now: float | None = None
) -> None:
    """Raise ``InvalidWebhook`` unless ``header`` is a fresh, valid signature of ``body``."""
    if not secret:
        raise InvalidWebhook("invalid_signature", "Webhooks are not configured.")
    timestamp, signatures = _parse(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise InvalidWebhook("invalid_signature", "The signature is too old or from the future.")
    expected = compute(body, secret=secret, timestamp=timestamp)
    if not any(hmac.compare_digest(expected.encode(), given.encode()) for given in signatures):
        raise InvalidWebhook("invalid_signature", "The signature does not match.")


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise InvalidWebhook("invalid_signature", f"The {HEADER} header is missing.")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and _UNIX_TIME.fullmatch(value):
            timestamp = int(value)
        elif key == "v1" and _HEX_DIGEST.fullmatch(value):
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidWebhook("invalid_signature", f"The {HEADER} header is malformed.")
    return timestamp, signatures
