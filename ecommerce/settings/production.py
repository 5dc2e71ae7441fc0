"""Production: DEBUG off, secrets required, HTTPS hardening. `check --deploy` passes clean."""

from django.core.exceptions import ImproperlyConfigured

from ecommerce.settings.base import *  # noqa: F403
from ecommerce.settings.base import SERVICE_TOKEN, SERVICE_URLS, env

# Every missing or unsafe setting, reported together so that one start lists them all.
problems: list[str] = []

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    problems.append(
        "DEBUG must be off in production: its error pages show settings and source code."
    )
SECRET_KEY = env.str("SECRET_KEY", default="")
if (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith(("insecure-", "django-insecure-"))
):
    problems.append(
        "SECRET_KEY must be set to a random string of at least 50 characters in production."
    )

# Falling back to the SQLite file in the project would keep orders where no backup looks.
if not env.str("DATABASE_URL", default=""):
    problems.append(
        "DATABASE_URL must name the database in production, e.g. postgres://user:pass@host/shop."
    )

# The README says to set it; falling back to localhost would answer every real request 400.
if not env.list("ALLOWED_HOSTS", default=[]):
    problems.append("ALLOWED_HOSTS must list the host names the shop answers to in production.")

# Chosen, never defaulted: the built-in fake gateway takes no money, so a shop that fell back
# to it would hand out goods for the test token "tok_ok".
if not env.str("PAYMENT_GATEWAY", default=""):
    problems.append(
        "PAYMENT_GATEWAY must name the payment gateway class in production (the built-in "
        "apps.payments.gateways.fake.FakeGateway takes no money: name it only for a test)."
    )

PAYMENT_WEBHOOK_SECRET = env.str("PAYMENT_WEBHOOK_SECRET", default="")
if len(PAYMENT_WEBHOOK_SECRET) < 16 or PAYMENT_WEBHOOK_SECRET.startswith("insecure-"):
    problems.append(
        "PAYMENT_WEBHOOK_SECRET must be set to the gateway's webhook signing secret in production."
    )

# Internal endpoints accept only callers that present this secret; one that anyone could guess
# would open every app's internal API (docs/SPLITTING.md).
if (SERVICE_URLS or SERVICE_TOKEN) and len(SERVICE_TOKEN) < 32:
    problems.append(
        "SERVICE_TOKEN must be a random string of at least 32 characters when apps run as "
        "separate services (SERVICE_URLS)."
    )

if problems:
    raise ImproperlyConfigured(
        "The production settings cannot start:\n" + "\n".join(f"- {p}" for p in problems)
    )

# A superuser with the password printed in the README would be anyone's.
DEMO_ADMIN_DEFAULT_PASSWORD_ALLOWED = False

# Customers' emails go out by SMTP (EMAIL_HOST and the rest); local settings print them.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")

# The TLS proxy in front must set X-Forwarded-Proto (and overwrite a client's own): requests
# without "https" in it are taken for plain HTTP and redirected (SECURE_SSL_REDIRECT).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.whole("SECURE_HSTS_SECONDS", default=31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
