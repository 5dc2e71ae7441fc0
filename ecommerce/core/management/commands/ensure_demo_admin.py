"""Create the demo staff user from DEMO_ADMIN_EMAIL / DEMO_ADMIN_PASSWORD, once."""

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecommerce.accounts.services import user_ensure_staff

DEFAULT_EMAIL = "admin@example.com"
DEFAULT_PASSWORD = "shop-demo-admin"


class Command(BaseCommand):
    help = (
        "Create the demo staff user if it does not exist, and print how to sign in. Under "
        "production settings only with DEMO_ADMIN_PASSWORD set (the default is published)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        email = os.environ.get("DEMO_ADMIN_EMAIL") or DEFAULT_EMAIL
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or DEFAULT_PASSWORD
        if password == DEFAULT_PASSWORD and not settings.DEMO_ADMIN_DEFAULT_PASSWORD_ALLOWED:
            raise CommandError(
                f"Not creating a staff user with the published demo password {password!r} "
                "under these settings: set DEMO_ADMIN_PASSWORD to one of your own, or use "
                "manage.py createsuperuser."
            )
        ensured = user_ensure_staff(email=email, password=password)
        email = ensured.user.email
        if not ensured.user.is_staff:
            # Not a failure: `make run` goes on, and the shop works without the admin.
            self.stderr.write(
                f"{email} is a shopper's account, not staff: set DEMO_ADMIN_EMAIL to another "
                "address for the demo staff user, or sign in to the admin as another staff user."
            )
        elif not ensured.signs_in:
            self.stdout.write(
                f"Demo staff user {email} (exists) does not sign in with DEMO_ADMIN_PASSWORD: "
                "its password was changed, or it was deactivated."
            )
        else:
            state = "created" if ensured.created else "exists"
            self.stdout.write(f"Demo staff user {email} ({state}); password: {password}")
