from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ecommerce.accounts"
    label = "accounts"
    verbose_name = "Accounts"
