from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ecommerce.accounts"
    label = "accounts"
    verbose_name = "Accounts"


class ApiTokensConfig(AppConfig):
    """django-rest-knox, the API's tokens (docs/ACCOUNTS.md), under a name staff understand."""

    name = "knox"
    label = "knox"
    verbose_name = "API tokens"
