import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower


def normalize_email(email: str) -> str:
    """Emails are compared without regard to letter case, so they are stored lower-cased."""
    return email.strip().lower()


class UserManager(DjangoUserManager["User"]):
    def _create_user_object(self, email: str, password: str | None, **extra_fields: Any) -> "User":
        user = self.model(email=normalize_email(email), **extra_fields)
        user.password = ""
        user.set_password(password)
        return user

    def create_user(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        user = self._create_user_object(email, password, **extra_fields)
        user.save(using=self._db)
        return user

    def create_superuser(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=normalize_email(username or ""))


class User(AbstractUser):
    """A shop user. The email is the login; there is no username."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        # The admin's "disable password-based authentication": locking an account out is a
        # sign-out everywhere too, though there is no new password for _password to hold.
        self._password_disabled = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # _password is set by set_password() until saved, as Django's own password_changed()
        # reads it (a hash upgraded at sign-in clears it first: not a new password).
        password_changed = not self._state.adding and (
            getattr(self, "_password", None) is not None
            or getattr(self, "_password_disabled", False)
        )
        super().save(*args, **kwargs)
        self._password_disabled = False
        if password_changed:
            # A new password signs the user out everywhere: their sessions already (Django
            # checks the password's hash), their API tokens too.
            from knox.models import AuthToken

            AuthToken.objects.filter(user_id=self.pk).delete()
