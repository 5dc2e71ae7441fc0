"""The API's frame: health, the one error shape, OpenAPI, static admin."""

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from apps.cart.models import Cart
from ecommerce.accounts.models import User
from ecommerce.bus import publish
from ecommerce.bus.models import Delivery
from ecommerce.bus.registry import subscribers_of
from tests.bus.support.events import ThingHappened

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cluster_keeping_up() -> None:
    """As while a django-q2 cluster runs: every schedule (made by the migrations, when the
    test database was) next runs in the future."""
    Schedule.objects.update(next_run=timezone.now() + timedelta(seconds=30))


def test_health_checks_the_database_and_reports_the_bus_and_tasks(api: APIClient) -> None:
    response = api.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "bus": {"pending": 0, "dead": 0, "oldest_due_seconds": None, "status": "ok"},
        "tasks": {"overdue_seconds": None, "status": "ok"},
    }


def _overdue(name: str, *, seconds: float) -> None:
    Schedule.objects.filter(name=name).update(next_run=timezone.now() - timedelta(seconds=seconds))


def test_a_schedule_due_since_the_scheduler_last_looked_is_not_degraded(api: APIClient) -> None:
    _overdue("inventory: expire reservations", seconds=25)  # the scheduler looks every 30 s

    tasks = api.get("/api/v1/health").json()["tasks"]

    assert tasks["status"] == "ok"
    assert 24 < tasks["overdue_seconds"] < 60


def test_health_is_degraded_when_no_cluster_has_run_the_schedules(api: APIClient) -> None:
    _overdue("inventory: expire reservations", seconds=150)
    _overdue("payments: resume stalled charges", seconds=400)

    response = api.get("/api/v1/health")

    assert response.status_code == 200  # the site serves and takes orders
    body = response.json()
    assert (body["status"], body["bus"]["status"], body["tasks"]["status"]) == (
        "ok",
        "ok",
        "degraded",
    )
    assert 399 < body["tasks"]["overdue_seconds"] < 430


def test_a_schedule_that_has_run_its_last_repeat_is_not_overdue(api: APIClient) -> None:
    Schedule.objects.create(
        func="math.floor", schedule_type=Schedule.ONCE, repeats=0, next_run=timezone.now()
    )
    Schedule.objects.filter(repeats=0).update(next_run=timezone.now() - timedelta(days=3))

    assert api.get("/api/v1/health").json()["tasks"] == {"overdue_seconds": None, "status": "ok"}


def _published(*, seconds_ago: float) -> None:
    """An event published ``seconds_ago``: its deliveries have been due since."""
    then = timezone.now() - timedelta(seconds=seconds_ago)
    with transaction.atomic():
        event = publish(ThingHappened(thing_id=uuid4(), occurred_at=then))
    Delivery.objects.filter(event__event_id=event.event_id).update(next_attempt_at=then)


def test_health_is_ok_while_the_relay_keeps_up(api: APIClient, settings: Any) -> None:
    settings.BUS_EAGER = False  # as in production: the relay delivers
    _published(seconds_ago=5)

    body = api.get("/api/v1/health").json()

    assert (body["status"], body["bus"]["status"]) == ("ok", "ok")
    assert body["bus"]["pending"] == len(subscribers_of("bus_support.ThingHappened"))
    assert 4 < body["bus"]["oldest_due_seconds"] < 60


def test_health_is_degraded_when_no_relay_has_delivered_for_over_a_minute(
    api: APIClient, settings: Any
) -> None:
    settings.BUS_EAGER = False
    _published(seconds_ago=90)

    response = api.get("/api/v1/health")

    assert response.status_code == 200  # the site serves: keep it in rotation
    assert (response.json()["status"], response.json()["bus"]["status"]) == ("ok", "degraded")
    assert response.json()["bus"]["oldest_due_seconds"] >= 90


def test_health_is_degraded_while_a_dead_delivery_waits_for_an_operator(
    api: APIClient, settings: Any
) -> None:
    settings.BUS_EAGER = False
    _published(seconds_ago=1)
    Delivery.objects.update(status="dead")

    body = api.get("/api/v1/health").json()

    dead = len(subscribers_of("bus_support.ThingHappened"))
    assert body["bus"] == {
        "pending": 0,
        "dead": dead,
        "oldest_due_seconds": None,
        "status": "degraded",
    }


def test_old_events_just_replayed_are_not_lag(api: APIClient, settings: Any) -> None:
    settings.BUS_EAGER = False
    with transaction.atomic():
        publish(ThingHappened(thing_id=uuid4(), occurred_at=timezone.now() - timedelta(days=9)))

    body = api.get("/api/v1/health").json()

    assert body["bus"]["status"] == "ok"
    assert body["bus"]["oldest_due_seconds"] < 60


def test_a_retry_waiting_out_its_backoff_is_not_lag(api: APIClient, settings: Any) -> None:
    settings.BUS_EAGER = False
    _published(seconds_ago=600)
    Delivery.objects.update(attempts=3, next_attempt_at=timezone.now() + timedelta(minutes=5))

    body = api.get("/api/v1/health").json()

    assert (body["bus"]["status"], body["bus"]["oldest_due_seconds"]) == ("ok", None)


@pytest.mark.parametrize(
    ("table", "part"), [("bus_delivery", "bus"), ("django_q_schedule", "tasks")]
)
def test_health_is_503_when_the_bus_or_task_tables_cannot_be_read(table: str, part: str) -> None:
    # The database answers, but a query fails: not migrated yet (a fresh deploy probed by its
    # load balancer), a statement timeout. Undone with the test's transaction.
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")

    response = Client(raise_request_exception=False).get("/api/v1/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "ok",
        part: "error: ProgrammingError"
        if connection.vendor == "postgresql"
        else "error: OperationalError",
    }


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/v1/no/such/thing/", "/api/v2/health"])
def test_unknown_api_urls_answer_404_in_the_error_shape(api: APIClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 404
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/nothing-here"),
        ("post", "/api/v1/carts"),  # no trailing slash
        ("post", "/api/v1/carts/not-a-uuid/items"),
        ("delete", "/api/v1/notifications/subscriptions/not-a-uuid"),
    ],
)
def test_writes_to_unknown_api_urls_answer_404_too_without_a_csrf_cookie(
    method: str, path: str
) -> None:
    api = APIClient(enforce_csrf_checks=True)  # as curl or an app: no CSRF cookie

    response = getattr(api, method)(path, {"a": 1}, format="json")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (
            '{"email": "a@example.com", "password": "%s"}' % ("x" * 3_000_000),
            "application/json",
            413,
            "request_too_large",
        ),
        (
            "&".join(f"f{i}=x" for i in range(1100)),
            "application/x-www-form-urlencoded",
            400,
            "bad_request",
        ),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "parse_error"),
        # Valid JSON, but a lone surrogate cannot be encoded again into an error message.
        ('{"email": "\\ud800", "password": "x"}', "application/json", 400, "parse_error"),
        ('{"email": "a@example.com", "\\udfff": 1}', "application/json", 400, "parse_error"),
        ('[[{"a": ["\\ud83d"]}]]', "application/json", 400, "parse_error"),
    ],
    ids=[
        "over the upload limit",
        "too many form fields",
        "nested too deeply",
        "lone surrogate in a value",
        "lone surrogate in a key",
        "lone surrogate nested",
    ],
)
def test_bodies_django_or_python_cannot_take_are_4xx_in_the_error_shape(
    body: str, content_type: str, status: int, code: str
) -> None:
    api = APIClient(raise_request_exception=False)

    response = api.post(REGISTER, body, content_type=content_type)

    assert response.status_code == status
    assert response.json()["type"] == "client_error"
    assert response.json()["errors"][0]["code"] == code
    assert not User.objects.exists()


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


@pytest.mark.parametrize("method", ["options", "post", "delete"])
def test_the_docs_page_answers_other_methods_405(api: APIClient, method: str) -> None:
    assert getattr(api, method)("/api/docs/").status_code == 405


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


# POSTs that take no body: a body sent anyway is refused, with nothing changed.
NO_BODY = [
    pytest.param("/api/v1/carts/", id="create a cart"),
    pytest.param("/api/v1/notifications/read-all", id="read all notifications"),
]


@pytest.mark.parametrize("path", NO_BODY)
@pytest.mark.parametrize(
    ("body", "code", "attr"),
    [
        pytest.param('{"oops": ', "parse_error", None, id="malformed"),
        pytest.param('{"email": "a@example.com"}', "unknown_field", "email", id="a field"),
        pytest.param("[1]", "unknown_field", None, id="not an object"),
    ],
)
def test_a_body_sent_to_a_post_that_takes_none_is_400_and_changes_nothing(
    user_api: APIClient, path: str, body: str, code: str, attr: str | None
) -> None:
    response = user_api.generic("POST", path, body, content_type="application/json")

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [(code, attr)]
    assert not Cart.objects.exists()


@pytest.mark.parametrize(
    ("path", "client"),
    [
        ("/api/v1/carts/", "user_api"),  # takes no body
        ("/api/v1/auth/register", "api"),  # takes fields of its own
    ],
)
def test_a_body_of_many_unknown_fields_names_twenty_and_counts_the_rest(
    request: pytest.FixtureRequest, path: str, client: str
) -> None:
    body = {f"field{n}": n for n in range(50_000)}
    api, users = request.getfixturevalue(client), User.objects.count()

    response = api.post(path, body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["attr"] for e in errors[:20]] == [f"field{n}" for n in range(20)]
    assert {e["code"] for e in errors} == {"unknown_field"}
    assert errors[20:] == [
        {
            "code": "unknown_field",
            "detail": "And 49980 more fields this request does not take, not named here.",
            "attr": "non_field_errors",
        }
    ]
    assert len(response.content) < 10_000
    assert (Cart.objects.count(), User.objects.count()) == (0, users)


def test_a_session_form_posting_only_its_csrf_token_sends_no_body(make_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("ann@example.com"))
    client.cookies["csrftoken"] = token = "a" * 32

    response = client.post("/api/v1/carts/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 201, response.content
    assert Cart.objects.count() == 1


@pytest.mark.parametrize("body", ["", "{}"], ids=["no body", "an empty object"])
def test_a_post_that_takes_no_body_takes_none_or_an_empty_object(
    user_api: APIClient, body: str
) -> None:
    response = user_api.generic("POST", "/api/v1/carts/", body, content_type="application/json")

    assert response.status_code == 201


def test_admin_sign_in_attempts_are_limited_like_the_apis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache.clear()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    client = Client()
    guess = {"username": "boss@example.com", "password": "wrong", "next": "/admin/"}

    answers = [client.post("/admin/login/", guess).status_code for _ in range(4)]
    right = client.post("/admin/login/", {**guess, "password": "a-long-passphrase"})

    assert answers == [200, 200, 200, 429]  # the form again with its error, then no more
    assert right.status_code == 429  # not even the right password, until the minute is over
    assert int(right["Retry-After"]) > 0
    assert client.get("/admin/login/").status_code == 200  # the page itself is always shown
