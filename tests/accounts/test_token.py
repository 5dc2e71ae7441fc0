from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from ecommerce.accounts.models import User

URL = "/api/v1/auth/token"
pytestmark = pytest.mark.django_db


@pytest.fixture
def ada() -> User:
    return User.objects.create_user(email="ada@example.com", password="correct horse battery")


def test_the_token_authenticates_later_requests(api: APIClient, ada: User) -> None:
    response = api.post(URL, {"email": "ADA@example.com", "password": "correct horse battery"})

    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=ada).key
    # The same credentials give the same token.
    again = api.post(URL, {"email": "ada@example.com", "password": "correct horse battery"})
    assert again.json() == {"token": token}


@pytest.mark.parametrize(
    "key",
    ["\x00", "a" * 39 + "\x00", "A" * 40, "not-a-token", "a" * 41],
    ids=["NUL", "NUL at the end", "upper case", "junk", "too long"],
)
def test_a_key_that_cannot_be_a_token_is_401_without_a_query(
    api: APIClient, ada: User, key: str, django_assert_num_queries: Any
) -> None:
    # PostgreSQL refuses a NUL in a query: asked about it, the lookup was a 500.
    Token.objects.create(user=ada, key="a" * 40)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    with django_assert_num_queries(0):
        response = api.get("/api/v1/notifications/")

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
    assert not Token.objects.exists()


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


def test_a_new_password_revokes_the_api_token_and_nothing_else_does(
    api: APIClient, ada: User
) -> None:
    token = api.post(URL, {"email": "ada@example.com", "password": "correct horse battery"})
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert api.get("/api/v1/notifications/").status_code == 200

    ada.first_name = "Ada"
    ada.save()
    assert api.get("/api/v1/notifications/").status_code == 200

    # Staff reset it (admin, changepassword): whoever held the old token is signed out.
    ada.set_password("a new and better passphrase")
    ada.save()

    assert api.get("/api/v1/notifications/").status_code == 401
    assert not Token.objects.filter(user=ada).exists()


def test_the_admin_shows_no_api_token(api: APIClient, ada: User) -> None:
    key = api.post(URL, {"email": "ada@example.com", "password": "correct horse battery"})
    boss = User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    web = Client()
    web.force_login(boss)

    index = web.get("/admin/")

    assert index.status_code == 200
    assert b"authtoken" not in index.content
    assert web.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert (
        key.json()["token"].encode()
        not in web.get(f"/admin/accounts/user/{ada.pk}/change/").content
    )
