"""Create the demo staff user from DEMO_ADMIN_EMAIL / DEMO_ADMIN_PASSWORD, once."""

import os
from typing import Any

from django.core.management.base import BaseCommand

from ecommerce.accounts.services import user_ensure_staff

DEFAULT_EMAIL = "admin@example.com"
DEFAULT_PASSWORD = "shop-demo-admin"


class Command(BaseCommand):
    help = "Create the demo staff user if it does not exist, and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        email = os.environ.get("DEMO_ADMIN_EMAIL") or DEFAULT_EMAIL
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or DEFAULT_PASSWORD
        user, created = user_ensure_staff(email=email, password=password)
        state = "created" if created else "exists"
        self.stdout.write(f"Demo staff user {user.email} ({state}); password: {password}")
