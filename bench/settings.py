"""Settings for benchmark processes: production-like (no eager bus), plus bench.support."""

from ecommerce.settings.base import *  # noqa: F403
from ecommerce.settings.base import INSTALLED_APPS

DEBUG = False
BUS_EAGER = False
INSTALLED_APPS = [*INSTALLED_APPS, "bench.support"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# Pages rendered in process (bench/scale.py) without collectstatic's manifest first.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
