"""Production settings: refuse to start without a secret, pass `check --deploy` when configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "ecommerce.settings.production",
    "SECRET_KEY": "k" * 20 + "a-long-random-production-secret-for-the-check-only",
    "ALLOWED_HOSTS": "shop.example.com",
    "PAYMENT_WEBHOOK_SECRET": "whsec-a-long-random-signing-secret",
    "PAYMENT_GATEWAY": "apps.payments.gateways.fake.FakeGateway",
    "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'db.sqlite3'}",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_pass_the_deploy_check_without_warnings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "problem"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("PAYMENT_WEBHOOK_SECRET", "PAYMENT_WEBHOOK_SECRET must be set"),
        # The built-in fake gateway takes no money: never a fallback.
        ("PAYMENT_GATEWAY", "PAYMENT_GATEWAY must name the payment gateway class"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must list the host names"),
    ],
)
def test_production_settings_refuse_to_start_without_a_required_setting(
    variable: str, problem: str
) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != variable}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert problem in result.stderr


def test_production_settings_refuse_a_short_service_token_when_apps_run_apart() -> None:
    env = {
        **PRODUCTION_ENV,
        "SERVICE_URLS": "inventory=http://inventory:8000",
        "SERVICE_TOKEN": "short",
    }

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "SERVICE_TOKEN must be a random string" in result.stderr


def test_production_settings_accept_apps_apart_with_a_long_service_token() -> None:
    env = {
        **PRODUCTION_ENV,
        "SERVICE_URLS": "inventory=http://inventory:8000,products=http://products:8000",
        "SERVICE_TOKEN": "s" * 40,
    }

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stderr


def test_a_throttle_rate_of_off_lifts_that_limit() -> None:
    probe = (
        "from django.conf import settings; print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )
    env = {
        **PRODUCTION_ENV,
        "THROTTLE_ANON_RATE": "off",
        "THROTTLE_USER_RATE": "900/minute",
        "THROTTLE_AUTH_RATE": "30/hours",  # as DRF reads it: plurals too
    }

    result = manage("shell", "-c", probe, env=env)

    assert result.returncode == 0, result.stderr
    assert "'anon': None" in result.stdout
    assert "'user': '900/minute'" in result.stdout
    assert "'auth': '30/hours'" in result.stdout


def test_production_settings_refuse_to_start_with_debug_on() -> None:
    result = manage("check", env={**PRODUCTION_ENV, "DEBUG": "true"})

    assert result.returncode != 0
    assert "DEBUG must be off in production" in result.stderr


@pytest.mark.parametrize(
    "key",
    ["django-insecure-" + "x1y2z3" * 10, "ab" * 30],  # what startproject writes; low variety
)
def test_production_settings_refuse_a_secret_key_that_is_not_random(key: str) -> None:
    result = manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": key})

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BUS_MAX_ATTEMPTS", "ten"),
        ("PORT", "80x"),
        ("SECURE_HSTS_SECONDS", "1.5"),
        ("BUS_POLL_SECONDS", "5s"),  # django-environ's float reads it as 5
        ("PAYMENT_STALL_SECONDS", "nan"),
    ],
)
def test_a_number_that_does_not_parse_names_its_variable(variable: str, value: str) -> None:
    result = manage("check", env={**PRODUCTION_ENV, variable: value})

    assert result.returncode != 0
    assert f"{variable} is not valid" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("BUS_BATCH_SIZE", "0", "BUS_BATCH_SIZE must be 1 or more, not 0"),  # claims nothing
        ("BUS_DELIVERIES_PER_TRANSACTION", "0", "must be 1 or more, not 0"),
        ("BUS_MAX_ATTEMPTS", "0", "BUS_MAX_ATTEMPTS must be 1 or more, not 0"),
        ("RESERVATION_TTL_MINUTES", "-5", "must be 1 or more, not -5"),  # born expired
        ("EVENT_RETENTION_DAYS", "-1", "must be 1 or more, not -1"),  # nothing to replay
        ("PAYMENT_MAX_ATTEMPTS", "0", "PAYMENT_MAX_ATTEMPTS must be 1 or more, not 0"),
        ("BUS_POLL_SECONDS", "0", "BUS_POLL_SECONDS must be more than 0 seconds, not 0"),
        ("PAYMENT_STALL_SECONDS", "-1", "must be more than 0 seconds, not -1"),
        ("SERVICE_BACKOFF_SECONDS", "-0.5", "must be 0 or more seconds, not -0.5"),
        ("WEB_NICE", "20", "WEB_NICE must be 0 to 19, not 20"),
        ("PORT", "70000", "PORT must be 0 to 65535, not 70000"),
    ],
)
def test_a_number_out_of_its_range_stops_the_start(variable: str, value: str, said: str) -> None:
    result = manage("check", env={**PRODUCTION_ENV, variable: value})

    assert result.returncode != 0
    assert said in result.stderr.strip().splitlines()[-1]


def test_numbers_at_the_edge_of_their_range_are_taken() -> None:
    edges = {
        "SERVICE_BACKOFF_SECONDS": "0",
        "WEB_NICE": "19",
        "Q_SAVE_LIMIT": "-1",
        "BUS_BATCH_SIZE": "1",
    }

    result = manage("check", env={**PRODUCTION_ENV, **edges})

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "rate", ["100", "100/fortnight", "-5/minute", "many/minute", "5/moment", "5/hourly"]
)
def test_a_malformed_throttle_rate_is_refused_at_start(rate: str) -> None:
    # Accepted, it made every API request a 500.
    result = manage("check", env={**PRODUCTION_ENV, "THROTTLE_ANON_RATE": rate})

    assert result.returncode != 0
    assert "THROTTLE_ANON_RATE must be a rate such as 120/minute" in result.stderr


def test_production_settings_refuse_to_fall_back_to_the_sqlite_file() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DATABASE_URL"}

    result = manage("check", env={**env, "DATABASE_URL": ""})

    assert result.returncode != 0
    assert "DATABASE_URL must name the database in production" in result.stderr


def test_every_problem_is_reported_at_once() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS")}

    result = manage("check", env={**env, "DEBUG": "true"})

    assert result.returncode != 0
    for problem in ("DEBUG must be off", "SECRET_KEY must be set", "ALLOWED_HOSTS must list"):
        assert f"- {problem}" in result.stderr


def test_production_sends_email_by_smtp_unless_told_otherwise() -> None:
    probe = "from django.conf import settings; print(settings.EMAIL_BACKEND)"

    result = manage("shell", "-c", probe, env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "django.core.mail.backends.smtp.EmailBackend"
