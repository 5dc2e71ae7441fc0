from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "ecommerce.bus"
    label = "bus"
    verbose_name = "Event bus"

    def ready(self) -> None:
        from ecommerce.bus import checks  # noqa: F401  (registers the settings checks)
