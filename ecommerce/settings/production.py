"""Production: DEBUG off, secrets required, HTTPS hardening. `check --deploy` passes clean."""

from django.core.exceptions import ImproperlyConfigured

from ecommerce.settings.base import *  # noqa: F403
from ecommerce.settings.base import SERVICE_TOKEN, SERVICE_URLS, env

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    raise ImproperlyConfigured(
        "DEBUG must be off in production: its error pages show settings and source code."
    )
SECRET_KEY = env.str("SECRET_KEY", default="")
if (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith(("insecure-", "django-insecure-"))
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters in production."
    )

# The README says to set it; falling back to localhost would answer every real request 400.
if not env.list("ALLOWED_HOSTS", default=[]):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must list the host names the shop answers to in production."
    )

# Chosen, never defaulted: the built-in fake gateway takes no money, so a shop that fell back
# to it would hand out goods for the test token "tok_ok".
if not env.str("PAYMENT_GATEWAY", default=""):
    raise ImproperlyConfigured(
        "PAYMENT_GATEWAY must name the payment gateway class in production (the built-in "
        "apps.payments.gateways.fake.FakeGateway takes no money: name it only for a test)."
    )

PAYMENT_WEBHOOK_SECRET = env.str("PAYMENT_WEBHOOK_SECRET", default="")
if len(PAYMENT_WEBHOOK_SECRET) < 16 or PAYMENT_WEBHOOK_SECRET.startswith("insecure-"):
    raise ImproperlyConfigured(
        "PAYMENT_WEBHOOK_SECRET must be set to the gateway's webhook signing secret in production."
    )

# Internal endpoints accept only callers that present this secret; one that anyone could guess
# would open every app's internal API (docs/SPLITTING.md).
if (SERVICE_URLS or SERVICE_TOKEN) and len(SERVICE_TOKEN) < 32:
    raise ImproperlyConfigured(
        "SERVICE_TOKEN must be a random string of at least 32 characters when apps run as "
        "separate services (SERVICE_URLS)."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
