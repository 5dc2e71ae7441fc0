"""The test suite: SQLite by default, PostgreSQL when DATABASE_URL points to one."""

from ecommerce.settings.base import *  # noqa: F403
from ecommerce.settings.base import REST_FRAMEWORK

DEBUG = False
SECRET_KEY = "test-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "auth": None},
}
# No collectstatic in tests: whitenoise finds files through the finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

BUS_EAGER = True

# django-q2 runs each task inline, in the caller's process, where async_task is called.
# Tasks run inline; successes are stored so tests can inspect what a task record holds.
Q_CLUSTER = {**Q_CLUSTER, "sync": True, "save_limit": 250}  # noqa: F405

# The bus tests' own events, subscribers and effect tables.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.bus.support"]  # noqa: F405

# Monolith unless a test says otherwise (tests/remote, the split mode of tests/e2e).
SERVICE_URLS = {}
SERVICE_TOKEN = "test-service-token"
SERVICE_BACKOFF_SECONDS = 0.01
