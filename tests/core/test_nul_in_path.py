"""A path holding a NUL (``%00``) is a 404 before any view looks it up: no id can hold one,
and PostgreSQL refuses it in text, which made the admin pages of models keyed by text (the
task records of django-q2, API tokens) answer 500."""

import pytest
from django.test import Client

from ecommerce.accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/admin/django_q/failure/abc%00/change/",
        "/admin/django_q/success/abc%00/change/",
        "/admin/knox/authtoken/abc%00/change/",
        "/admin/knox/authtoken/abc%00/delete/",
    ],
)
def test_an_admin_page_of_an_id_holding_a_nul_is_404(path: str) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser(email="boss@example.com", password="p-4ss"))

    assert client.get(path).status_code == 404


def test_an_api_path_holding_a_nul_is_404_in_the_error_shape() -> None:
    response = Client().get("/api/v1/products/abc%00/")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
