from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "ecommerce.core"
    label = "core"
    verbose_name = "Platform"
