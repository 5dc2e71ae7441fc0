"""Settings shared by every environment, all read from environment variables.

Every variable is listed in the README's configuration table.
"""

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


class Env(environ.Env):
    """``environ.Env`` whose values that do not parse name their variable at start, instead
    of a bare ``ValueError`` from deep inside the settings."""

    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{var} is not valid: {exc}") from None

    def whole(self, var: str, *, default: int, minimum: int = 1, maximum: int | None = None) -> int:
        """A whole number from ``minimum`` to ``maximum``: a count of attempts, a batch, a
        number of days. Out of range stops the start, naming the variable."""
        value = self.int(var, default=default)
        if value < minimum or (maximum is not None and value > maximum):
            upto = f" to {maximum}" if maximum is not None else " or more"
            raise ImproperlyConfigured(f"{var} must be {minimum}{upto}, not {value}")
        return value

    def seconds(self, var: str, *, default: float, zero: bool = False) -> float:
        """A length of time in seconds: above zero (or zero too, with ``zero``). Parsed as
        Python reads a number, where django-environ's float drops what is not a digit or a
        point ("1e3" would be 13, "5s" 5)."""
        raw = self.str(var, default="").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ImproperlyConfigured(f"{var} is not valid: not a number of seconds: {raw!r}")
        if value < 0 or (value == 0 and not zero):
            more = "0 or more" if zero else "more than 0"
            raise ImproperlyConfigured(f"{var} must be {more} seconds, not {value:g}")
        return value


env = Env()

SECRET_KEY = env.str(
    "SECRET_KEY", default="insecure-local-development-key-do-not-use-in-production"
)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "ecommerce.accounts.apps.ApiTokensConfig",  # django-rest-knox
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "django_q",
    # The platform.
    "ecommerce.bus",
    "ecommerce.accounts",
    "ecommerce.core",
    # The services.
    "apps.products",
    "apps.inventory",
    "apps.cart",
    "apps.payments",
    "apps.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ecommerce.core.middleware.refuse_nul_in_path",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ecommerce.urls"
WSGI_APPLICATION = "ecommerce.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL picks the database; without it (or empty) the shop runs on an SQLite file in
# the project.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
        # transaction starts, so two writers queue instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.whole("DB_CONN_MAX_AGE", default=60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, with a health check that asks the server only when the
        # connection's socket says something happened (ecommerce/common/postgresql).
        DATABASES["default"]["ENGINE"] = "ecommerce.common.postgresql"
    # Queries are bound and, once run DB_PREPARE_THRESHOLD times on a connection, prepared
    # on the server: for the short statements of this shop, planning costs as much as running.
    # Set DB_PREPARE_THRESHOLD=0 behind a pooler that cannot keep prepared statements.
    if prepare_threshold := env.whole("DB_PREPARE_THRESHOLD", default=5, minimum=0):
        DATABASES["default"]["OPTIONS"] = {
            "server_side_binding": True,
            "prepare_threshold": prepare_threshold,
        }

# --- Passwords, language, time --------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by whitenoise, also with DEBUG off) ---------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Cache (throttling counters) --------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "ecommerce.common.cache.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.whole("EMAIL_PORT", default=25, maximum=65535)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.whole("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@localhost")

# --- The shop ---------------------------------------------------------------------------------
STORE_NAME = env.str("STORE_NAME", default="Example Shop")
STORE_CURRENCY = env.str("STORE_CURRENCY", default="EUR")
# How long checked-out stock stays reserved waiting for payment.
RESERVATION_TTL_MINUTES = env.whole("RESERVATION_TTL_MINUTES", default=15)


# --- REST API ---------------------------------------------------------------------------------
def throttle_rate(name: str, default: str) -> str | None:
    """A rate such as "120/minute", or "off" for no limit (a gateway in front limits already,
    or a load test). Each limited request costs two cache round trips."""
    value = env.str(name, default=default).strip()
    if value.lower() == "off":
        return None
    # DRF reads only the period's first letter: "5/moment" would be per minute.
    if not re.fullmatch(r"[1-9][0-9]*/(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)", value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 120/minute (per second, minute, hour or day) or "
            f"off, not {value!r}"
        )
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ecommerce.accounts.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": "ecommerce.common.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": throttle_rate("THROTTLE_ANON_RATE", "120/minute"),
        "user": throttle_rate("THROTTLE_USER_RATE", "600/minute"),
        # Sign-in attempts, per client address: slows down password guessing.
        "auth": throttle_rate("THROTTLE_AUTH_RATE", "20/minute"),
    },
    # Proxies in front that append to X-Forwarded-For (1 behind one load balancer). With 0
    # the client address is the connection's: a header the client sends cannot pick its
    # throttle bucket.
    "NUM_PROXIES": env.whole("NUM_PROXIES", default=0, minimum=0),
    "DEFAULT_PARSER_CLASSES": [
        "ecommerce.common.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "ecommerce.common.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ecommerce.common.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# API tokens (docs/ACCOUNTS.md): one per sign-in, stored as a SHA-512 digest only, expiring
# after API_TOKEN_TTL_DAYS without use; each use renews it, writing at most once an hour.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.whole("API_TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": True,
    "MIN_REFRESH_INTERVAL": 3600,
}
# The framework's errors the schema documents; ecommerce.common.openapi adds each view's domain
# errors (409 ...), 413 and 503.
DRF_STANDARDIZED_ERRORS = {
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "415", "429"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shop API",
    "DESCRIPTION": (
        "The REST API of the event-driven shop backend. Every error has one shape: "
        '`{"type": "validation_error" | "client_error" | "server_error", "errors": '
        '[{"code", "detail", "attr"}]}`; clients switch on `code`. Each operation lists the '
        "statuses and codes it can answer. Besides those, a body field an operation does not "
        "take is 400 `unknown_field` with the field's name as `attr`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # drf-standardized-errors documents its error codes as enums; name them once.
    "ENUM_NAME_OVERRIDES": {
        name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
        for name in [
            "ValidationErrorEnum",
            "ClientErrorEnum",
            "ServerErrorEnum",
            *(f"ErrorCode{code}Enum" for code in (401, 403, 404, 405, 406, 415, 429, 500)),
        ]
    }
    | {
        # Several models have a "status" field with different choices: name each set.
        "ProductStatusEnum": "apps.products.models.ProductStatus.choices",
        "CartStatusEnum": "apps.cart.models.CartStatus.choices",
        "PaymentStatusEnum": "apps.payments.models.PaymentStatus.choices",
        "NotificationKindEnum": "apps.notifications.models.NotificationKind.choices",
        "SubscriptionKindEnum": "apps.notifications.models.SubscriptionKind.choices",
        "HealthStateEnum": "ecommerce.core.views.HEALTH_STATES",
    },
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
}

# --- Background work (django-q2) ----------------------------------------------------------------
# timeout < retry so a task is never handed to a second worker while the first still runs;
# catch_up=False so a cluster that was down does not fire every missed schedule at once.
Q_CLUSTER = {
    "name": "shop",
    "workers": env.whole("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 120,
    "catch_up": False,
    # Keep failed tasks (the admin shows them) but not every success: storing each success
    # is a write per task on the busiest path (a charge per checkout, an email per message).
    "save_limit": env.whole("Q_SAVE_LIMIT", default=-1, minimum=-1),
    "ack_failures": True,
    "poll": 0.5,
    **({"redis": REDIS_URL} if REDIS_URL else {"orm": "default"}),
}

# --- Event bus (docs/EVENTS.md) -------------------------------------------------------------
# Eager: deliver right after commit in the publishing process (tests, local development).
BUS_EAGER = env.bool("BUS_EAGER", default=False)
BUS_MAX_ATTEMPTS = env.whole("BUS_MAX_ATTEMPTS", default=10)
BUS_BACKOFF_BASE_SECONDS = env.seconds("BUS_BACKOFF_BASE_SECONDS", default=1.0)
BUS_BACKOFF_MAX_SECONDS = env.seconds("BUS_BACKOFF_MAX_SECONDS", default=600.0)
BUS_LEASE_SECONDS = env.seconds("BUS_LEASE_SECONDS", default=30.0)
BUS_BATCH_SIZE = env.whole("BUS_BATCH_SIZE", default=100)
BUS_DELIVERIES_PER_TRANSACTION = env.whole("BUS_DELIVERIES_PER_TRANSACTION", default=20)
BUS_POLL_SECONDS = env.seconds("BUS_POLL_SECONDS", default=1.0)
EVENT_RETENTION_DAYS = env.whole("EVENT_RETENTION_DAYS", default=30)
# "inprocess": the relay runs local subscribers; "kafka": the relay produces every event to
# Kafka and `consume_events --app <label>` runs each app's subscribers (docs/EVENTS.md).
EVENT_TRANSPORT = env.str("EVENT_TRANSPORT", default="inprocess")
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="")
KAFKA_TOPIC_PREFIX = env.str("KAFKA_TOPIC_PREFIX", default="shop.")
# Extra librdkafka settings as JSON objects, e.g. {"security.protocol": "SASL_SSL", ...}.
KAFKA_PRODUCER_CONFIG = env.json("KAFKA_PRODUCER_CONFIG", default={})
KAFKA_CONSUMER_CONFIG = env.json("KAFKA_CONSUMER_CONFIG", default={})

# --- Service calls across processes (docs/SPLITTING.md) -----------------------------------------
# An app named here runs in another process: its services are called over HTTP at this base URL,
# e.g. SERVICE_URLS=inventory=http://inventory:8000,products=http://products:8000. Apps not named
# run in this process. SERVICE_TOKEN is the shared secret of the internal endpoints (both sides).
SERVICE_URLS: dict[str, str] = env.dict("SERVICE_URLS", default={})
SERVICE_TOKEN = env.str("SERVICE_TOKEN", default="")
SERVICE_TIMEOUT_SECONDS = env.seconds("SERVICE_TIMEOUT_SECONDS", default=5.0)
SERVICE_RETRIES = env.whole("SERVICE_RETRIES", default=2, minimum=0)
SERVICE_BACKOFF_SECONDS = env.seconds("SERVICE_BACKOFF_SECONDS", default=0.2, zero=True)

# --- Payments (docs/PAYMENTS.md) ---------------------------------------------------------------
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="apps.payments.gateways.fake.FakeGateway")
PAYMENT_WEBHOOK_SECRET = env.str("PAYMENT_WEBHOOK_SECRET", default="insecure-local-webhook-secret")
PAYMENT_WEBHOOK_TOLERANCE_SECONDS = env.whole("PAYMENT_WEBHOOK_TOLERANCE_SECONDS", default=300)
PAYMENT_MAX_ATTEMPTS = env.whole("PAYMENT_MAX_ATTEMPTS", default=5)
PAYMENT_RETRY_BASE_SECONDS = env.seconds("PAYMENT_RETRY_BASE_SECONDS", default=5.0)
PAYMENT_RETRY_MAX_SECONDS = env.seconds("PAYMENT_RETRY_MAX_SECONDS", default=300.0)
PAYMENT_STALL_SECONDS = env.seconds("PAYMENT_STALL_SECONDS", default=300.0)
PAYMENT_QUEUED_STALL_SECONDS = env.seconds("PAYMENT_QUEUED_STALL_SECONDS", default=30.0)

# --- Notifications (docs/NOTIFICATIONS.md) -----------------------------------------------------
NOTIFICATION_MAX_ATTEMPTS = env.whole("NOTIFICATION_MAX_ATTEMPTS", default=5)
NOTIFICATION_RETRY_BASE_SECONDS = env.seconds("NOTIFICATION_RETRY_BASE_SECONDS", default=30.0)
NOTIFICATION_RETRY_MAX_SECONDS = env.seconds("NOTIFICATION_RETRY_MAX_SECONDS", default=3600.0)
NOTIFICATION_STALL_SECONDS = env.seconds("NOTIFICATION_STALL_SECONDS", default=600.0)
NOTIFICATION_QUEUED_STALL_SECONDS = env.seconds("NOTIFICATION_QUEUED_STALL_SECONDS", default=30.0)

# --- Server (read by `manage.py serve`) -------------------------------------------------------
HOST = env.str("HOST", default="127.0.0.1")
PORT = env.whole("PORT", default=8000, minimum=0, maximum=65535)
WEB_CONCURRENCY = env.whole("WEB_CONCURRENCY", default=2)
# How much lower the web server's CPU priority is than the relay's and the workers' (nice).
WEB_NICE = env.whole("WEB_NICE", default=0, minimum=0, maximum=19)
# ensure_demo_admin may create the demo staff user with its published password
# (shop-demo-admin) when DEMO_ADMIN_PASSWORD is not set: local runs and tests only.
DEMO_ADMIN_DEFAULT_PASSWORD_ALLOWED = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
