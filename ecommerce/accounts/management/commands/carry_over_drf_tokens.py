"""Carry DRF's tokens over into API tokens (docs/ACCOUNTS.md, "Upgrading from DRF tokens")."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection
from knox.models import AuthToken

from ecommerce.accounts.drf_tokens import TABLE, carry_over_drf_tokens


class Command(BaseCommand):
    help = (
        "Turn the keys left in DRF's token table into API tokens (clients stay signed in) "
        "and delete them from it. Safe to repeat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        carried = carry_over_drf_tokens(AuthToken, connection)
        if carried is None:
            self.stdout.write(f"No {TABLE} table: nothing to carry over.")
        else:
            self.stdout.write(f"DRF tokens carried over: {carried}; {TABLE} holds no key now.")
