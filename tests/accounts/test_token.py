import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from ecommerce.accounts.api.authentication import TokenAuthentication
from ecommerce.accounts.models import User
from ecommerce.accounts.tasks import purge_expired_tokens

URL = "/api/v1/auth/token"
SIGNED_IN = "/api/v1/notifications/"  # any page that needs a signed-in user
pytestmark = pytest.mark.django_db


@pytest.fixture
def ada() -> User:
    return User.objects.create_user(email="ada@example.com", password="correct horse battery")


def sign_in(api: APIClient, email: str = "ada@example.com") -> str:
    response = api.post(URL, {"email": email, "password": "correct horse battery"})
    assert response.status_code == 200, response.content
    token: str = response.json()["token"]
    return token


def as_holder(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_token_authenticates_later_requests_and_expires_in_a_month(
    api: APIClient, ada: User
) -> None:
    response = api.post(URL, {"email": "ADA@example.com", "password": "correct horse battery"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    expiry = AuthToken.objects.get(user=ada).expiry
    assert abs(expiry - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert as_holder(body["token"]).get(SIGNED_IN).status_code == 200


def test_each_sign_in_is_a_token_of_its_own(api: APIClient, ada: User) -> None:
    phone, laptop = sign_in(api), sign_in(api)

    assert phone != laptop
    assert AuthToken.objects.filter(user=ada).count() == 2
    assert as_holder(phone).get(SIGNED_IN).status_code == 200
    assert as_holder(laptop).get(SIGNED_IN).status_code == 200


def test_only_a_digest_of_the_key_is_stored(api: APIClient, ada: User) -> None:
    # Whoever reads the database (a leaked backup, staff with a SQL prompt) cannot sign in.
    key = sign_in(api)

    stored = AuthToken.objects.values().get()
    assert stored["digest"] == hashlib.sha512(key.encode()).hexdigest()
    assert not any(key in str(value) for value in stored.values())


@pytest.mark.parametrize(
    "key",
    ["\x00", "a" * 39 + "\x00", "A" * 64, "not-a-token", "a" * 41, "a" * 65, "é" * 64],
    ids=["NUL", "NUL at the end", "upper case", "junk", "41 digits", "65 digits", "non-ASCII"],
)
def test_a_key_that_cannot_be_a_token_is_401_without_a_query(
    api: APIClient, ada: User, key: str, django_assert_num_queries: Any
) -> None:
    # PostgreSQL refuses a NUL in a query: asked about it, the lookup was a 500.
    sign_in(api)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    with django_assert_num_queries(0):
        response = api.get(SIGNED_IN)

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


@pytest.mark.parametrize("length", [40, 64])
def test_an_unknown_key_is_401(api: APIClient, ada: User, length: int) -> None:
    sign_in(api)

    response = as_holder("0" * length).get(SIGNED_IN)

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "ada@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": "correct horse battery"},
    ],
)
def test_wrong_credentials_are_refused_without_a_token(
    api: APIClient, ada: User, payload: dict[str, str]
) -> None:
    response = api.post(URL, payload)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_credentials"
    assert not AuthToken.objects.exists()


def test_a_field_sign_in_does_not_take_is_named_in_a_400(api: APIClient, ada: User) -> None:
    response = api.post(
        URL, {"email": "ada@example.com", "password": "correct horse battery", "otp": "123456"}
    )

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("unknown_field", "otp")]
    assert not AuthToken.objects.exists()


def test_a_client_cannot_dodge_the_sign_in_limit_with_its_own_forwarded_for(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No proxy in front (NUM_PROXIES 0): the limit keys on the connection's address, and a
    # made-up X-Forwarded-For on each guess changes nothing.
    cache.clear()
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "2/minute"})
    guess = {"email": "victim@example.com", "password": "guess"}

    statuses = [
        api.post("/api/v1/auth/token", guess, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
        for n in range(4)
    ]

    assert statuses == [400, 400, 429, 429]


def test_an_expired_token_is_refused_and_the_purge_deletes_it(api: APIClient, ada: User) -> None:
    old, fresh = sign_in(api), sign_in(api)
    AuthToken.objects.filter(digest=hashlib.sha512(old.encode()).hexdigest()).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )

    response = as_holder(old).get(SIGNED_IN)

    assert response.status_code == 401
    assert response.json()["errors"][0]["detail"] == "The token has expired: sign in again."
    assert purge_expired_tokens() == 1
    assert AuthToken.objects.filter(user=ada).count() == 1
    assert as_holder(fresh).get(SIGNED_IN).status_code == 200


def test_using_a_token_renews_it_at_most_once_an_hour(api: APIClient, ada: User) -> None:
    key = sign_in(api)
    token = AuthToken.objects.get()
    issued_expiry = token.expiry

    as_holder(key).get(SIGNED_IN)
    token.refresh_from_db()
    assert token.expiry == issued_expiry  # just issued: no write

    # Issued two hours ago: the use renews it for a full month from now.
    AuthToken.objects.update(expiry=issued_expiry - timedelta(hours=2))
    as_holder(key).get(SIGNED_IN)
    token.refresh_from_db()
    assert abs(token.expiry - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


def test_a_token_signed_out_while_it_was_being_renewed_is_refused(
    api: APIClient, ada: User
) -> None:
    sign_in(api)
    read = AuthToken.objects.get()  # as a request found it, about to renew it
    read.expiry -= timedelta(hours=2)
    AuthToken.objects.all().delete()  # meanwhile: logout-all, or a new password

    with pytest.raises(AuthenticationFailed):
        TokenAuthentication().renew_token(read)

    assert not AuthToken.objects.exists()


def test_an_inactive_users_token_is_refused(api: APIClient, ada: User) -> None:
    key = sign_in(api)
    User.objects.filter(pk=ada.pk).update(is_active=False)

    assert as_holder(key).get(SIGNED_IN).status_code == 401


def test_logout_signs_out_this_device_only(api: APIClient, ada: User) -> None:
    phone, laptop = as_holder(sign_in(api)), as_holder(sign_in(api))

    assert phone.post("/api/v1/auth/logout").status_code == 204

    assert phone.get(SIGNED_IN).status_code == 401
    assert phone.post("/api/v1/auth/logout").status_code == 401
    assert laptop.get(SIGNED_IN).status_code == 200


def test_logout_takes_no_body_and_needs_a_token(api: APIClient, ada: User) -> None:
    phone = as_holder(sign_in(api))
    browser = APIClient()
    browser.force_login(ada)

    refused = phone.post("/api/v1/auth/logout", {"everywhere": True})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "unknown_field"
    assert phone.get(SIGNED_IN).status_code == 200
    # A session has no token to revoke (signing out of the admin does that).
    assert browser.post("/api/v1/auth/logout").status_code == 401


def test_logout_all_signs_out_every_device_of_this_user_only(api: APIClient, ada: User) -> None:
    phone, laptop = as_holder(sign_in(api)), as_holder(sign_in(api))
    User.objects.create_user(email="grace@example.com", password="correct horse battery")
    grace = as_holder(sign_in(api, "grace@example.com"))

    assert laptop.post("/api/v1/auth/logout-all").status_code == 204

    assert phone.get(SIGNED_IN).status_code == 401
    assert laptop.get(SIGNED_IN).status_code == 401
    assert grace.get(SIGNED_IN).status_code == 200


def test_a_new_password_revokes_the_api_tokens_and_nothing_else_does(
    api: APIClient, ada: User
) -> None:
    holder = as_holder(sign_in(api))
    assert holder.get(SIGNED_IN).status_code == 200

    ada.first_name = "Ada"
    ada.save()
    assert holder.get(SIGNED_IN).status_code == 200

    # Staff reset it (admin, changepassword): whoever held the old token is signed out.
    ada.set_password("a new and better passphrase")
    ada.save()

    assert holder.get(SIGNED_IN).status_code == 401
    assert not AuthToken.objects.filter(user=ada).exists()


def test_staff_disabling_password_sign_in_in_the_admin_revokes_the_api_tokens(
    api: APIClient, ada: User
) -> None:
    holder = as_holder(sign_in(api))
    boss = User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    web = Client()
    web.force_login(boss)

    locked = web.post(
        f"/admin/accounts/user/{ada.pk}/password/",
        {"usable_password": "false", "unset-password": ""},
    )

    assert locked.status_code == 302, locked.content
    ada.refresh_from_db()
    assert not ada.has_usable_password()
    assert holder.get(SIGNED_IN).status_code == 401
    assert not AuthToken.objects.filter(user=ada).exists()


def test_the_admin_lists_tokens_without_keys_and_deleting_one_signs_it_out(
    api: APIClient, ada: User
) -> None:
    key = sign_in(api)
    token = AuthToken.objects.get()
    boss = User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    web = Client()
    web.force_login(boss)

    listing = web.get("/admin/knox/authtoken/")
    assert listing.status_code == 200
    assert b"ada@example.com" in listing.content
    assert key[:8].encode() not in listing.content
    assert key[:8].encode() not in web.get(f"/admin/accounts/user/{ada.pk}/change/").content
    # No token is made here: the key would be shown to staff, who could act as the user.
    assert web.get("/admin/knox/authtoken/add/").status_code == 403

    deleted = web.post(f"/admin/knox/authtoken/{token.pk}/delete/", {"post": "yes"}, follow=True)

    assert deleted.status_code == 200
    assert as_holder(key).get(SIGNED_IN).status_code == 401
