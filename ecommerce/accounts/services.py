"""Account use cases: register a shopper, issue and revoke API tokens."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.utils import timezone
from knox.models import AuthToken

from ecommerce.accounts.models import User, normalize_email
from ecommerce.common.errors import DomainError


class EmailTaken(DomainError):
    code = "email_taken"
    status = 400
    default_detail = "A user with this email already exists."


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 400
    default_detail = "Unable to sign in with the given email and password."


@dataclass(frozen=True, slots=True)
class UserDTO:
    id: UUID
    email: str
    is_staff: bool


@dataclass(frozen=True, slots=True)
class TokenDTO:
    token: str
    user_id: UUID
    expiry: datetime | None  # renewed at each use (docs/ACCOUNTS.md)


def _to_dto(user: User) -> UserDTO:
    return UserDTO(id=user.pk, email=user.email, is_staff=user.is_staff)


@transaction.atomic
def user_register(*, email: str, password: str) -> UserDTO:
    """Create a shopper account. Django's password validators apply.

    Raises ``EmailTaken`` when the email exists in any letter case, and Django's
    ``ValidationError`` (with one code per problem) for a weak password.
    """
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise EmailTaken(attr="email")
    validate_password(password, user=User(email=email))
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
    except IntegrityError as exc:  # lost a race with another registration of the same email
        raise EmailTaken(attr="email") from exc
    return _to_dto(user)


def token_obtain(*, email: str, password: str) -> TokenDTO:
    """Issue a new API token: one per sign-in, so each device signs out on its own. Only
    the key's digest is stored; the key is in the answer and nowhere else."""
    user = authenticate(username=normalize_email(email), password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials()
    token, key = AuthToken.objects.create(user=user)
    return TokenDTO(token=key, user_id=user.pk, expiry=token.expiry)


def token_revoke(*, digest: str) -> None:
    """Sign out the one device holding this token."""
    AuthToken.objects.filter(digest=digest).delete()


def tokens_revoke_all(*, user_id: UUID) -> int:
    """Sign the user out of the API on every device; return how many tokens that was."""
    deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return deleted


def tokens_purge_expired() -> int:
    """Delete the tokens past their expiry (refused already); return how many."""
    deleted, _ = AuthToken.objects.filter(expiry__lte=timezone.now()).delete()
    return deleted


@dataclass(frozen=True, slots=True)
class EnsuredStaff:
    user: UserDTO
    created: bool
    signs_in: bool  # whether the password given signs the user in (it may have been changed)


def user_ensure_staff(*, email: str, password: str) -> EnsuredStaff:
    """Create a staff superuser unless a user with this email exists; an existing one is
    left as it is, staff or not, with its own password."""
    email = normalize_email(email)
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        signs_in = existing.is_active and existing.check_password(password)
        return EnsuredStaff(user=_to_dto(existing), created=False, signs_in=signs_in)
    user = User.objects.create_superuser(email=email, password=password)
    return EnsuredStaff(user=_to_dto(user), created=True, signs_in=True)
