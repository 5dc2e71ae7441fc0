"""Start-up checks of the bus's settings (``manage.py check`` and every command run them)."""

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from ecommerce.bus.conf import KAFKA, kafka_settings, transport


@register()
def bus_transport(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    try:
        if transport() == KAFKA:
            kafka_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="bus.E001")]
    return []
