"""The user admin: a change form writes only what its user edited."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from ecommerce.accounts.models import User
from tests.admin_pages import form_as_shown

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    boss = User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    client = Client()
    client.force_login(boss)
    return client


def shown_without_empty_lists(page: object) -> dict[str, str]:
    """The form as shown; a multiple select with nothing chosen sends nothing."""
    return {
        k: v for k, v in form_as_shown(page).items() if v or k not in ("groups", "user_permissions")
    }


def test_a_form_opened_before_an_account_was_locked_does_not_unlock_it(
    admin_client: Client,
) -> None:
    clerk = User.objects.create_user(email="clerk@example.com", password="pw-long-enough")
    clerk.is_staff = True
    clerk.save()
    clerk.groups.add(Group.objects.create(name="catalog"))
    url = f"/admin/accounts/user/{clerk.pk}/change/"
    shown = shown_without_empty_lists(admin_client.get(url))  # staff A opens the account
    # Staff B, meanwhile: the clerk left; the account is locked and loses its rights.
    User.objects.filter(pk=clerk.pk).update(is_active=False, is_staff=False)
    clerk.groups.clear()

    response = admin_client.post(url, {**shown, "first_name": "Chris"})  # A adds a name

    assert response.status_code == 302, response.context["adminform"].form.errors
    clerk.refresh_from_db()
    assert (clerk.first_name, clerk.is_active, clerk.is_staff) == ("Chris", False, False)
    assert list(clerk.groups.all()) == []


def test_an_edit_of_the_user_admin_still_saves(admin_client: Client) -> None:
    clerk = User.objects.create_user(email="clerk@example.com", password="pw-long-enough")
    url = f"/admin/accounts/user/{clerk.pk}/change/"
    group = Group.objects.create(name="catalog")
    shown = shown_without_empty_lists(admin_client.get(url))

    response = admin_client.post(url, {**shown, "is_staff": "on", "groups": [str(group.pk)]})

    assert response.status_code == 302, response.context["adminform"].form.errors
    clerk.refresh_from_db()
    assert clerk.is_staff
    assert list(clerk.groups.all()) == [group]
