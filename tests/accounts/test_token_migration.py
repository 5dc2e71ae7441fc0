"""Migration accounts 0002: DRF's tokens, kept in clear, become digests that sign in the same."""

import secrets

import pytest
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
    user_id = User._meta.pk.get_db_prep_value(user.pk, connection)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp"
            f" NOT NULL, user_id {uuid} NOT NULL UNIQUE REFERENCES accounts_user (id))"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, "2026-01-01 00:00:00", user_id],
        )


@pytest.mark.django_db(transaction=True)
def test_a_drf_token_keeps_signing_in_and_its_key_is_deleted() -> None:
    ada = User.objects.create_user(email="ada@example.com", password="correct horse battery")
    key = secrets.token_hex(20)  # DRF's form: 40 hex digits
    migrate(BEFORE)
    create_drf_token_table(key, ada)

    try:
        migrate(AFTER)

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM authtoken_token")
            assert cursor.fetchone() == (0,)
        assert AuthToken.objects.get().user_id == ada.pk
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/v1/notifications/").status_code == 200
        assert Schedule.objects.filter(
            func="ecommerce.accounts.tasks.purge_expired_tokens"
        ).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
        migrate(AFTER)
