"""Local development and `make run`: DEBUG on, events delivered right after commit."""

from ecommerce.settings.base import *  # noqa: F403
from ecommerce.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

BUS_EAGER = env.bool("BUS_EAGER", default=True)
