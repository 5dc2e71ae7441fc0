import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from ecommerce.accounts.models import User

URL = "/api/v1/auth/register"
pytestmark = pytest.mark.django_db


def error_codes(response) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [(e["code"], e["attr"]) for e in response.json()["errors"]]


def test_register_creates_a_user_with_a_lowercased_email(api: APIClient) -> None:
    response = api.post(URL, {"email": "Ada@Example.COM", "password": "correct horse battery"})

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get()
    assert body == {"id": str(user.id), "email": "ada@example.com"}
    assert user.check_password("correct horse battery")
    assert not user.is_staff


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"email": "not-an-email", "password": "correct horse battery"}, [("invalid", "email")]),
        ({"email": "a@example.com", "password": "short"}, [("password_too_short", "password")]),
        (
            {"email": "a@example.com", "password": "12345678901"},
            [("password_too_common", "password"), ("password_entirely_numeric", "password")],
        ),
        ({"password": "correct horse battery"}, [("required", "email")]),
        (
            {"email": "a@example.com", "password": 12},
            [
                ("password_too_short", "password"),
                ("password_too_common", "password"),
                ("password_entirely_numeric", "password"),
            ],
        ),
        ({"email": ["a@example.com"], "password": "correct horse battery"}, [("invalid", "email")]),
        (  # a domain longer than DNS allows once written in its ASCII form: mail never arrives
            {"email": "x@" + "\u00fc" * 63 + ".com", "password": "correct horse battery"},
            [("invalid", "email")],
        ),
        (
            {"email": "a@example.com", "password": "correct horse battery", "is_staff": True},
            [("unknown_field", "is_staff")],
        ),
    ],
)
def test_bad_input_is_a_validation_error_and_creates_nothing(
    api: APIClient, payload: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == expected
    assert not User.objects.exists()


def test_a_duplicate_email_in_any_letter_case_is_refused(api: APIClient) -> None:
    api.post(URL, {"email": "ada@example.com", "password": "correct horse battery"})

    response = api.post(URL, {"email": "ADA@example.com", "password": "another good phrase"})

    assert response.status_code == 400
    assert error_codes(response) == [("email_taken", "email")]
    assert User.objects.count() == 1


def test_a_body_that_is_not_json_is_a_parse_error(api: APIClient) -> None:
    response = api.post(URL, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == [("parse_error", None)]
    assert not User.objects.exists()


def test_registrations_count_with_sign_in_attempts(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each answer tells whether an email has an account: as limited as guessing passwords.
    cache.clear()
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    User.objects.create_user(email="ada@example.com", password="correct horse battery")

    statuses = [
        api.post(
            "/api/v1/auth/token", {"email": "ada@example.com", "password": "guess"}
        ).status_code,
        api.post(URL, {"email": "ada@example.com", "password": "a long passphrase"}).status_code,
        api.post(URL, {"email": "bob@example.com", "password": "a long passphrase"}).status_code,
        api.post(URL, {"email": "eve@example.com", "password": "a long passphrase"}).status_code,
    ]

    assert statuses == [400, 400, 201, 429]
    assert list(User.objects.order_by("email").values_list("email", flat=True)) == [
        "ada@example.com",
        "bob@example.com",
    ]
