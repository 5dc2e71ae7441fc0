"""Fixtures shared by the whole suite."""

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from ecommerce.accounts.models import User
from ecommerce.remote.client import close_clients
from tests.processes import stop_leftovers

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


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


# What the staff who run the catalog and stock may do (refunds are apart: tests/payments).
CATALOG_STAFF_PERMISSIONS = (
    ("add_product", "products", "product"),
    ("change_product", "products", "product"),
    ("change_stock", "inventory", "stock"),
)


@pytest.fixture
def staff_api(make_user: Callable[..., User]) -> APIClient:
    """A staff member who runs the catalog and stock."""
    staff = make_user("staff@example.com", staff=True)
    staff.user_permissions.add(
        *(Permission.objects.get_by_natural_key(*key) for key in CATALOG_STAFF_PERMISSIONS)
    )
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=staff.pk))  # permissions are cached per object
    return client


@pytest.fixture
def bare_staff_api(make_user: Callable[..., User]) -> APIClient:
    """A staff member granted no permission (one who only reads orders, say)."""
    client = APIClient()
    client.force_authenticate(make_user("support@example.com", staff=True))
    return client


@pytest.fixture
def over_http(
    django_db_setup: None,
    live_server: LiveServer,
    settings: SettingsWrapper,
    transactional_db: None,
) -> Iterator[Callable[..., str]]:
    """``over_http("inventory", ...)``: from now on those apps' services are called over HTTP,
    at a live server running this project on the test database (ecommerce.remote). Returns
    the server's URL.

    On PostgreSQL the server has connections of its own, as a separate service would. On
    SQLite the test database lives in memory and the server shares the test's connection (the
    test database must exist before the server starts, hence ``django_db_setup`` first): its
    writes join the caller's transaction, where a connection of its own would wait for the
    caller's write lock while the caller waits for its answer.
    """

    def call_over_http(*apps: str) -> str:
        settings.SERVICE_URLS = {**settings.SERVICE_URLS, **dict.fromkeys(apps, live_server.url)}
        return str(live_server.url)

    yield call_over_http
    # A kept-alive connection keeps its server thread, and that thread's database
    # connection, open: the test database could not be dropped at the end.
    close_clients()
