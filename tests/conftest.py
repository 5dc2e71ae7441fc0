"""Fixtures shared by the whole suite."""

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ecommerce.accounts.models import User
from tests.processes import stop_leftovers

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _stop_spawned_processes() -> Iterator[None]:
    yield
    stop_leftovers()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(email: str = "shopper@example.com", *, staff: bool = False) -> User:
        return User.objects.create_user(email=email, password="a-long-passphrase", is_staff=staff)

    return make


@pytest.fixture
def user_api(make_user: Callable[..., User]) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("shopper@example.com"))
    return client


@pytest.fixture
def staff_api(make_user: Callable[..., User]) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("staff@example.com", staff=True))
    return client
