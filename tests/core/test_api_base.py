"""The API's frame: health, the one error shape, OpenAPI, static admin."""

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_health_checks_the_database_and_reports_the_bus(api: APIClient) -> None:
    response = api.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "bus": {"pending": 0, "dead": 0}}


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/v1/no/such/thing/", "/api/v2/health"])
def test_unknown_api_urls_answer_404_in_the_error_shape(api: APIClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 404
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
    }


def test_a_wrong_method_is_405_in_the_error_shape(api: APIClient) -> None:
    response = api.delete("/api/v1/health")

    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"


def test_a_crash_under_api_is_a_json_500() -> None:
    from ecommerce.core.views import handler500

    request = Client().get("/api/v1/health").wsgi_request
    request.path = "/api/v1/anything"
    response = handler500(request)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"


def test_the_openapi_schema_is_valid_openapi_3(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert out.read_text().startswith("openapi: 3.")


def test_schema_and_docs_are_served(api: APIClient) -> None:
    assert api.get("/api/schema/").status_code == 200
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_admin_login_page_is_styled(client: Client) -> None:
    page = client.get("/admin/login/")

    assert page.status_code == 200
    assert b"/static/admin/css/base.css" in page.content


def test_clients_over_their_rate_are_throttled(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache
    from rest_framework.throttling import ScopedRateThrottle

    cache.clear()
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "2/minute"})
    payload = {"email": "nobody@example.com", "password": "wrong"}

    statuses = [api.post("/api/v1/auth/token", payload).status_code for _ in range(3)]

    assert statuses == [400, 400, 429]
    response = api.post("/api/v1/auth/token", payload)
    assert response.json()["errors"][0]["code"] == "throttled"
