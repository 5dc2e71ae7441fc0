from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "ecommerce.bus"
    label = "bus"
    verbose_name = "Event bus"
