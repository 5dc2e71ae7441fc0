"""The product admin: stock in the list, actions and forms that go through the services."""

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.inventory import services as inventory
from apps.products import services
from apps.products.models import Category, Product
from ecommerce.accounts.models import User
from ecommerce.common.admin import ACTION_LIMIT
from ecommerce.core.idempotency import OnceFormField
from tests.admin_pages import form_as_shown
from tests.products.conftest import product_events
from tests.products.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/products/product/"


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")


@pytest.fixture
def admin_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_the_list_shows_stock_in_one_inventory_call_per_page(
    admin_client: Client, give_stock: Callable[[UUID, int], None]
) -> None:
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(CHANGELIST)
        assert response.status_code == 200
        return len(queries)

    give_stock(ProductFactory(name="Kettle").pk, 9)
    ProductFactory(name="Lamp")  # no stock row yet
    few = queries_for_the_list()
    for product in ProductFactory.create_batch(20, category=CategoryFactory()):
        give_stock(product.pk, 1)

    assert queries_for_the_list() == few
    rows = admin_client.get(CHANGELIST).context["cl"].result_list
    available = {p.name: p._available_quantity for p in rows}
    assert (available["Kettle"], available["Lamp"]) == (9, None)


def test_staff_search_by_name_or_sku_and_filter_by_status(admin_client: Client) -> None:
    ProductFactory(sku="TENT-1", name="Dome Tent")
    ProductFactory(sku="LAMP-1", name="Lamp", status="draft")

    def names(query: str) -> list[str]:
        return [p.name for p in admin_client.get(f"{CHANGELIST}?{query}").context["cl"].result_list]

    assert names("q=tent") == ["Dome Tent"]
    assert names("q=LAMP-1") == ["Lamp"]
    assert names("status__exact=draft") == ["Lamp"]


def test_the_list_filters_by_a_top_category_with_everything_below_it(
    admin_client: Client,
) -> None:
    outdoors = CategoryFactory(name="Outdoors", slug="outdoors")
    tents = CategoryFactory(name="Tents", slug="tents", parent=outdoors)
    ProductFactory(name="Dome Tent", category=tents)
    ProductFactory(name="Hat", category=outdoors)
    ProductFactory(name="Kettle", category=CategoryFactory(name="Kitchen", slug="kitchen"))

    page = admin_client.get(CHANGELIST, {"category": "outdoors"})

    assert sorted(p.name for p in page.context["cl"].result_list) == ["Dome Tent", "Hat"]
    [choices] = [f.lookup_choices for f in page.context["cl"].filter_specs if f.title == "category"]
    assert list(choices) == [("kitchen", "Kitchen"), ("outdoors", "Outdoors")]  # top level


def test_a_product_form_types_its_category_rather_than_listing_every_one(
    admin_client: Client,
) -> None:
    CategoryFactory.create_batch(30)
    camping = CategoryFactory(name="Camping", slug="camping")
    product = ProductFactory(category=camping)

    page = admin_client.get(f"/admin/products/product/{product.pk}/change/")
    found = admin_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "products",
            "model_name": "product",
            "field_name": "category",
            "term": "Camp",
        },
    )

    select = re.search(rb'<select name="category".*?</select>', page.content, re.S)
    assert select is not None
    # The category it has, and no other.
    assert re.findall(rb'<option value="([^"]+)"', select.group(0)) == [str(camping.pk).encode()]
    assert [r["text"] for r in found.json()["results"]] == [str(camping)]


def form_id(page: Any) -> str:
    """The one-time id of the action form on ``page``."""
    found = re.search(rb'name="request_id" value="([^"]+)"', page.content)
    assert found is not None, page.content
    return found.group(1).decode()


def test_an_admin_price_change_publishes_the_same_event_as_the_api(
    admin_client: Client, staff: User
) -> None:
    by_admin = ProductFactory(sku="SAME", name="Kettle", price=Decimal("30.00"))
    action = {"action": "change_price", "_selected_action": [str(by_admin.pk)]}

    form_page = admin_client.post(CHANGELIST, action)
    done = admin_client.post(
        CHANGELIST,
        {**action, "apply": "1", "price": "24.50", "request_id": form_id(form_page)},
    )

    assert form_page.status_code == 200
    assert b"New price" in form_page.content
    assert done.status_code == 302
    [(admin_type, admin_event)] = product_events(by_admin.pk)
    Product.objects.filter(pk=by_admin.pk).update(sku="SAME-ADMIN")

    by_api = ProductFactory(sku="SAME", name="Kettle", price=Decimal("30.00"))
    api = APIClient()
    api.force_authenticate(staff)
    assert api.patch(f"/api/v1/products/{by_api.pk}/", {"price": "24.50"}).status_code == 200
    [(api_type, api_event)] = product_events(by_api.pk)

    assert admin_type == api_type == "products.ProductPriceChanged"
    assert (
        {**admin_event, "product_id": None}
        == {**api_event, "product_id": None}
        == {
            "product_id": None,
            "sku": "SAME",
            "name": "Kettle",
            "old_price": "30.00",
            "new_price": "24.50",
            "currency": "EUR",
            "actor_id": str(staff.pk),
        }
    )


def test_the_price_action_sent_again_changes_nothing(admin_client: Client) -> None:
    product = ProductFactory(price=Decimal("30.00"))
    action = {"action": "change_price", "_selected_action": [str(product.pk)]}
    applied = {**action, "apply": "1", "price": "24.50"}
    applied["request_id"] = form_id(admin_client.post(CHANGELIST, action))

    first = admin_client.post(CHANGELIST, applied, follow=True)
    services.product_change_price(product_id=product.pk, price=Decimal("28.00"))  # staff B
    again = admin_client.post(CHANGELIST, applied, follow=True)  # Back, then Change price

    assert [str(m) for m in first.context["messages"]] == ["Price set to 24.50 for 1 products."]
    assert [str(m) for m in again.context["messages"]] == [
        "Already made: price set to 24.50 for 1 products; nothing changed now."
    ]
    product.refresh_from_db()
    assert product.price == Decimal("28.00")
    assert [p["new_price"] for _, p in product_events(product.pk)] == ["24.50", "28.00"]


def test_a_bad_price_in_the_action_form_changes_nothing(admin_client: Client) -> None:
    product = ProductFactory(price=Decimal("30.00"))
    action = {"action": "change_price", "_selected_action": [str(product.pk)], "apply": "1"}

    response = admin_client.post(
        CHANGELIST, {**action, "price": "-5", "request_id": OnceFormField.fresh()}
    )

    assert response.status_code == 200  # the form again, with the error
    assert response.context["form"].errors == {
        "price": ["Ensure this value is greater than or equal to 0."]
    }
    assert Product.objects.get().price == Decimal("30.00")
    assert product_events() == []


def test_the_discontinue_action(admin_client: Client) -> None:
    products = [*ProductFactory.create_batch(2), ProductFactory(status="discontinued")]

    response = admin_client.post(
        CHANGELIST,
        {"action": "discontinue", "_selected_action": [str(p.pk) for p in products]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 products discontinued. 1 already were." in response.content.decode()
    assert set(Product.objects.values_list("status", flat=True)) == {"discontinued"}
    assert sorted(t for t, _ in product_events()) == ["products.ProductDiscontinued"] * 2


def test_the_discontinue_action_counts_from_a_filtered_list(admin_client: Client) -> None:
    products = ProductFactory.create_batch(2)

    # The action's queryset keeps the list's filter, which no longer matches them afterwards.
    response = admin_client.post(
        f"{CHANGELIST}?status__exact=active",
        {"action": "discontinue", "_selected_action": [str(p.pk) for p in products]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == ["2 products discontinued."]
    assert set(Product.objects.values_list("status", flat=True)) == {"discontinued"}


def test_the_price_form_lists_the_first_hundred_and_says_how_many(admin_client: Client) -> None:
    Product.objects.bulk_create(ProductFactory.build_batch(150, price=Decimal("30.00")))
    page_ids = [str(pk) for pk in Product.objects.values_list("pk", flat=True)[:100]]
    action = {"action": "change_price", "_selected_action": page_ids, "select_across": "1"}

    page = admin_client.post(CHANGELIST, action)
    done = admin_client.post(
        CHANGELIST,
        {**action, "apply": "1", "price": "24.50", "request_id": form_id(page)},
        follow=True,
    )

    assert b"applies to these 150 products" in page.content
    assert b"The first 100 of 150 are listed." in page.content
    assert page.content.count(b"<li>") == 100
    assert [str(m) for m in done.context["messages"]] == ["Price set to 24.50 for 150 products."]
    assert set(Product.objects.values_list("price", flat=True)) == {Decimal("24.50")}


@pytest.mark.parametrize("action", ["change_price", "discontinue"])
def test_an_action_over_more_products_than_it_takes_changes_nothing(
    admin_client: Client, action: str
) -> None:
    Product.objects.bulk_create(ProductFactory.build_batch(ACTION_LIMIT + 1))
    page_ids = [str(pk) for pk in Product.objects.values_list("pk", flat=True)[:100]]
    chosen = {"action": action, "_selected_action": page_ids, "select_across": "1"}
    applied = {"apply": "1", "price": "1.00", "request_id": OnceFormField.fresh()}

    response = admin_client.post(CHANGELIST, {**chosen, **applied}, follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "More than 1,000 selected; nothing was done. An action works through at most 1,000 "
        "at a time: narrow the list with its filters or search, then run it again."
    ]
    assert Product.objects.filter(status="active").count() == ACTION_LIMIT + 1
    assert not Product.objects.filter(price=Decimal("1.00")).exists()
    assert product_events() == []


def _form(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Dome Tent",
        "slug": "dome-tent",
        "description": "",
        "price": "120.00",
        "category": "",
        "status": "active",
        "image_url": "",
        **fields,
    }


def test_adding_a_product_in_the_admin_goes_through_the_service(
    admin_client: Client, staff: User
) -> None:
    camping = CategoryFactory(slug="camping")

    response = admin_client.post(
        "/admin/products/product/add/",
        _form(sku="TENT-1", category=str(camping.pk), initial_stock="4"),
    )

    assert response.status_code == 302
    product = Product.objects.get()
    assert (product.sku, product.slug, product.currency, product.category) == (
        "TENT-1",
        "dome-tent",
        "EUR",
        camping,
    )
    [(event_type, payload)] = product_events(product.pk)
    assert (event_type, payload["actor_id"], payload["category"]) == (
        "products.ProductCreated",
        str(staff.pk),
        "camping",
    )
    assert inventory.stock_get(product_id=product.pk).available == 4
    change_page = admin_client.get(f"/admin/products/product/{product.pk}/change/")
    assert change_page.context["adminform"].form.instance._available_quantity == 4


def test_editing_a_product_in_the_admin_publishes_update_and_price_change(
    admin_client: Client,
) -> None:
    product = ProductFactory(sku="TENT-1", name="Tent", slug="tent", price=Decimal("100.00"))

    response = admin_client.post(
        f"/admin/products/product/{product.pk}/change/",
        _form(name="Dome Tent", slug="tent", price="90.00"),
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.price, product.sku) == ("Dome Tent", Decimal("90.00"), "TENT-1")
    events = product_events(product.pk)
    assert [(t, p.get("changed")) for t, p in events] == [
        ("products.ProductUpdated", ["name"]),
        ("products.ProductPriceChanged", None),
    ]


def test_a_duplicate_sku_in_the_admin_form_is_an_error_on_the_field(admin_client: Client) -> None:
    ProductFactory(sku="TENT-1")

    response = admin_client.post("/admin/products/product/add/", _form(sku="TENT-1"))

    assert response.status_code == 200
    assert "sku" in response.context["adminform"].form.errors
    assert Product.objects.count() == 1


def test_an_image_url_that_is_not_http_is_an_error_on_the_field(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/products/product/add/",
        _form(sku="TENT-1", image_url="ftp://example.com/tent.png", initial_stock="0"),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["image_url"] == ["Enter a valid http(s) URL."]
    assert not Product.objects.exists()


def test_a_discontinued_products_status_is_read_only_in_the_admin(admin_client: Client) -> None:
    product = ProductFactory(sku="TENT-1", slug="tent", status="discontinued")

    page = admin_client.get(f"/admin/products/product/{product.pk}/change/")
    response = admin_client.post(
        f"/admin/products/product/{product.pk}/change/",
        _form(name="Old Tent", slug="tent", price=str(product.price), status="active"),
    )

    assert "status" not in page.context["adminform"].form.fields
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.status) == ("Old Tent", "discontinued")


def test_a_rule_only_the_services_know_comes_back_as_a_message_and_saves_nothing(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = ProductFactory(sku="TENT-1", name="Tent", slug="tent", price=Decimal("100.00"))

    def refused(*args: Any, **kwargs: Any) -> None:  # after the details were written
        raise services.InvalidPrice("The price changed meanwhile.")

    monkeypatch.setattr(services, "_reprice", refused)
    url = f"/admin/products/product/{product.pk}/change/"
    response = admin_client.post(url, _form(name="Dome Tent", slug="tent", price="90.00"))

    assert (response.status_code, response["Location"]) == (302, url)
    followed = admin_client.get(url)
    assert "Nothing was saved: The price changed meanwhile." in followed.content.decode()
    product.refresh_from_db()
    assert (product.name, product.price) == ("Tent", Decimal("100.00"))  # the update too
    assert product_events(product.pk) == []


def test_categories_are_added_and_kept_free_of_cycles(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/products/category/add/", {"name": "Outdoors", "slug": "outdoors", "parent": ""}
    )
    outdoors = Category.objects.get()
    camping = CategoryFactory(slug="camping", parent=outdoors)

    cycle = admin_client.post(
        f"/admin/products/category/{outdoors.pk}/change/",
        {"name": "Outdoors", "slug": "outdoors", "parent": str(camping.pk)},
    )

    assert response.status_code == 302
    assert cycle.status_code == 200
    assert "parent" in cycle.context["adminform"].form.errors
    outdoors.refresh_from_db()
    assert outdoors.parent is None


# -- two staff members on the same product: the later save keeps the other's change -----------


def test_a_form_opened_before_a_price_change_does_not_undo_it(admin_client: Client) -> None:
    product = ProductFactory(name="Tent", slug="tent", price=Decimal("100.00"))
    url = f"/admin/products/product/{product.pk}/change/"
    shown = form_as_shown(admin_client.get(url))  # staff A opens the product
    services.product_change_price(product_id=product.pk, price=Decimal("120.00"))  # B, meanwhile

    response = admin_client.post(url, {**shown, "name": "Dome Tent"})  # A fixes the name

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.price) == ("Dome Tent", Decimal("120.00"))
    assert [(t, p.get("changed")) for t, p in product_events(product.pk)] == [
        ("products.ProductPriceChanged", None),
        ("products.ProductUpdated", ["name"]),
    ]


def test_a_price_someone_changed_since_the_form_was_opened_is_not_overwritten(
    admin_client: Client,
) -> None:
    product = ProductFactory(name="Tent", slug="tent", price=Decimal("100.00"))
    url = f"/admin/products/product/{product.pk}/change/"
    shown = form_as_shown(admin_client.get(url))  # staff A opens the product
    services.product_change_price(product_id=product.pk, price=Decimal("120.00"))  # B

    response = admin_client.post(url, {**shown, "price": "90.00"})  # A edits the price

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["price"]
    assert errors == [
        "Changed by someone else since this page was opened (now 120.00); reload the page to "
        "edit it."
    ]
    product.refresh_from_db()
    assert product.price == Decimal("120.00")
    assert len(product_events(product.pk)) == 1  # B's


@pytest.mark.parametrize("stored", ["Sleeps two.\nWaterproof.", "Sleeps two. ", "\nSleeps two."])
def test_text_written_through_the_api_can_be_edited_in_the_admin(
    admin_client: Client, stored: str
) -> None:
    product = ProductFactory(name="Tent", slug="tent", description=stored)
    url = f"/admin/products/product/{product.pk}/change/"
    shown = form_as_shown(admin_client.get(url))  # line breaks come back as CRLF

    response = admin_client.post(url, {**shown, "description": "Sleeps three."})

    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert product.description == "Sleeps three."


def test_a_price_edit_sent_again_neither_repeats_nor_undoes_a_later_change(
    admin_client: Client,
) -> None:
    product = ProductFactory(name="Tent", slug="tent", price=Decimal("100.00"))
    url = f"/admin/products/product/{product.pk}/change/"
    edited = {**form_as_shown(admin_client.get(url)), "price": "80.00"}
    saved = admin_client.post(url, edited)

    twice = admin_client.post(url, edited)  # a double click
    services.product_change_price(product_id=product.pk, price=Decimal("120.00"))  # staff B
    resent = admin_client.post(url, edited)  # Back, then Save

    assert (saved.status_code, twice.status_code, resent.status_code) == (302, 302, 200)
    product.refresh_from_db()
    assert product.price == Decimal("120.00")
    prices = [
        (p["old_price"], p["new_price"])
        for t, p in product_events(product.pk)
        if t == "products.ProductPriceChanged"
    ]
    assert prices == [("100.00", "80.00"), ("80.00", "120.00")]


def test_a_form_opened_before_a_publish_does_not_take_the_product_back_to_draft(
    admin_client: Client,
) -> None:
    product = ProductFactory(name="Tent", slug="tent", status="draft")
    url = f"/admin/products/product/{product.pk}/change/"
    shown = form_as_shown(admin_client.get(url))
    services.product_update(product_id=product.pk, status="active")  # B publishes it

    admin_client.post(url, {**shown, "description": "Sleeps two."})

    product.refresh_from_db()
    assert (product.status, product.description) == ("active", "Sleeps two.")


def test_a_form_opened_before_its_slug_was_reused_still_saves_another_edit(
    admin_client: Client,
) -> None:
    product = ProductFactory(name="Tent", slug="tent")
    url = f"/admin/products/product/{product.pk}/change/"
    shown = form_as_shown(admin_client.get(url))
    services.product_update(product_id=product.pk, slug="dome-tent")  # staff B, meanwhile,
    ProductFactory(name="Other tent", slug="tent")  # and the old slug goes to another product

    response = admin_client.post(url, {**shown, "description": "Sleeps two."})

    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert (product.slug, product.description) == ("dome-tent", "Sleeps two.")


def test_a_form_saved_unchanged_writes_nothing(admin_client: Client) -> None:
    product = ProductFactory(name="Tent", slug="tent", description="Sleeps\ntwo.")
    url = f"/admin/products/product/{product.pk}/change/"

    response = admin_client.post(url, form_as_shown(admin_client.get(url)))

    assert response.status_code == 302
    assert product_events(product.pk) == []


def test_a_category_form_opened_before_a_rename_does_not_undo_it(admin_client: Client) -> None:
    outdoors = CategoryFactory(name="Outdoors", slug="outdoors")
    camping = CategoryFactory(name="Camping", slug="camping")
    url = f"/admin/products/category/{camping.pk}/change/"
    shown = form_as_shown(admin_client.get(url))
    services.category_update(category_id=camping.pk, name="Camping & Hiking")  # staff B

    admin_client.post(url, {**shown, "parent": str(outdoors.pk)})  # staff A moves it

    camping.refresh_from_db()
    assert (camping.name, camping.parent) == ("Camping & Hiking", outdoors)


def test_a_slug_taken_between_the_category_forms_check_and_its_save_is_a_message(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    category_create = services.category_create

    def another_staff_member_first(**kwargs: Any) -> Any:
        Category.objects.create(name="Outdoor", slug="outdoors")  # lands after the form's check
        return category_create(**kwargs)

    monkeypatch.setattr(services, "category_create", another_staff_member_first)
    url = "/admin/products/category/add/"

    response = admin_client.post(url, {"name": "Outdoors", "slug": "outdoors", "parent": ""})

    assert (response.status_code, response["Location"]) == (302, url)
    assert "Nothing was saved" in admin_client.get(url).content.decode()
    assert list(Category.objects.values_list("name", flat=True)) == []  # rolled back, both


# -- permissions ----------------------------------------------------------------------------


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> Client:
    """A staff member who may only look at the catalog (products | view product)."""
    user = make_user("viewer@example.com", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_product"))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "action",
    [
        {"action": "discontinue"},
        {"action": "change_price", "apply": "1", "price": "0.01"},
    ],
    ids=["discontinue", "change price"],
)
def test_staff_who_may_only_view_products_cannot_run_the_actions(
    viewer: Client, action: dict[str, str]
) -> None:
    product = ProductFactory(price=Decimal("30.00"))
    assert viewer.get(CHANGELIST).status_code == 200  # may look

    viewer.post(CHANGELIST, {**action, "_selected_action": [str(product.pk)]})

    product.refresh_from_db()
    assert (product.status, product.price) == ("active", Decimal("30.00"))
    assert product_events(product.pk) == []
