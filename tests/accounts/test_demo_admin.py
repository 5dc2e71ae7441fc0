"""``ensure_demo_admin`` (run by ``make run``): the staff sign-in it prints works."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from ecommerce.accounts import services as accounts
from ecommerce.accounts.models import User

pytestmark = pytest.mark.django_db


def run(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[str, str]:
    for name in ("DEMO_ADMIN_EMAIL", "DEMO_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out, err = StringIO(), StringIO()
    call_command("ensure_demo_admin", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_first_run_creates_the_staff_user_it_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = run(monkeypatch)
    again, _ = run(monkeypatch)

    assert out == "Demo staff user admin@example.com (created); password: shop-demo-admin\n"
    assert again == "Demo staff user admin@example.com (exists); password: shop-demo-admin\n"
    user = authenticate(username="admin@example.com", password="shop-demo-admin")
    assert user is not None
    assert (user.is_staff, user.is_superuser) == (True, True)


def test_a_changed_password_is_not_printed_as_the_sign_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(monkeypatch)

    out, _ = run(monkeypatch, DEMO_ADMIN_PASSWORD="another-passphrase")

    assert "another-passphrase" not in out
    assert "does not sign in with DEMO_ADMIN_PASSWORD" in out
    assert authenticate(username="admin@example.com", password="shop-demo-admin") is not None


def test_a_shoppers_account_on_the_address_is_not_announced_as_staff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts.user_register(email="admin@example.com", password="a-shoppers-own-passphrase")

    out, err = run(monkeypatch)

    assert out == ""
    assert "a shopper's account, not staff" in err
    assert User.objects.get().is_staff is False  # left as it was


def test_production_will_not_make_a_staff_user_with_the_published_password(
    monkeypatch: pytest.MonkeyPatch, settings: SettingsWrapper
) -> None:
    settings.DEMO_ADMIN_DEFAULT_PASSWORD_ALLOWED = False  # as production sets it

    with pytest.raises(CommandError, match="set DEMO_ADMIN_PASSWORD to one of your own"):
        run(monkeypatch)
    assert not User.objects.exists()

    out, _ = run(monkeypatch, DEMO_ADMIN_PASSWORD="a-password-of-our-own")
    assert out == "Demo staff user admin@example.com (created); password: a-password-of-our-own\n"
