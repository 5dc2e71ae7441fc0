"""Migration accounts 0002 and ``carry_over_drf_tokens``: DRF's tokens, kept in clear,
become digests that sign in the same."""

import secrets

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.models import Schedule
from knox.models import AuthToken
from rest_framework.test import APIClient

from ecommerce.accounts.models import User

BEFORE = [("accounts", "0001_initial")]
AFTER = [("accounts", "0002_api_tokens_hashed")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def create_drf_token_table(key: str, user: User) -> None:
    """The table rest_framework.authtoken left behind, with one key in it."""
    uuid = "uuid" if connection.vendor == "postgresql" else "char(32)"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp"
            f" NOT NULL, user_id {uuid} NOT NULL UNIQUE REFERENCES accounts_user (id))"
        )
    issue_drf_token(key, user)


def issue_drf_token(key: str, user: User) -> None:
    """What the earlier code did at sign-in."""
    user_id = User._meta.pk.get_db_prep_value(user.pk, connection)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, "2026-01-01 00:00:00", user_id],
        )


def signs_in(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return bool(client.get("/api/v1/notifications/").status_code == 200)


def drf_keys_left() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        (count,) = cursor.fetchone()
    return int(count)


@pytest.mark.django_db(transaction=True)
def test_a_drf_token_keeps_signing_in_and_its_key_is_deleted() -> None:
    ada = User.objects.create_user(email="ada@example.com", password="correct horse battery")
    key = secrets.token_hex(20)  # DRF's form: 40 hex digits
    migrate(BEFORE)
    create_drf_token_table(key, ada)

    try:
        migrate(AFTER)

        assert drf_keys_left() == 0
        assert AuthToken.objects.get().user_id == ada.pk
        assert signs_in(key)
        assert Schedule.objects.filter(
            func="ecommerce.accounts.tasks.purge_expired_tokens"
        ).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
        migrate(AFTER)


@pytest.mark.django_db
def test_the_command_carries_over_keys_issued_after_the_migration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A rolling upgrade: an instance of the earlier code signed these in after 0002 ran.
    ada = User.objects.create_user(email="ada@example.com", password="correct horse battery")
    bob = User.objects.create_user(email="bob@example.com", password="correct horse battery")
    late, again = secrets.token_hex(20), secrets.token_hex(20)
    create_drf_token_table(late, ada)
    issue_drf_token(again, bob)
    assert not signs_in(late)

    call_command("carry_over_drf_tokens")

    assert "DRF tokens carried over: 2" in capsys.readouterr().out
    assert signs_in(late)
    assert signs_in(again)
    assert drf_keys_left() == 0
    # Repeated, with a key carried over before back in the table (restored from a backup).
    issue_drf_token(late, ada)
    call_command("carry_over_drf_tokens")
    assert "DRF tokens carried over: 1" in capsys.readouterr().out
    assert AuthToken.objects.count() == 2
    assert drf_keys_left() == 0
    assert signs_in(late)


@pytest.mark.django_db
def test_the_command_without_drf_s_table_has_nothing_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("carry_over_drf_tokens")

    assert "No authtoken_token table" in capsys.readouterr().out
