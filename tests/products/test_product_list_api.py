"""GET /api/v1/products/, /products/{id}/ and /categories/: filters, order, visibility, queries."""

from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.core.management import call_command
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from apps.inventory import services as inventory
from apps.inventory.events import OutOfStock
from apps.inventory.models import Stock
from apps.products import handlers
from apps.products import services as products
from apps.products.models import Product
from tests.products.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def skus(response: object) -> list[str]:
    return [item["sku"] for item in response.json()["results"]]  # type: ignore[attr-defined]


def test_a_shopper_sees_active_products_with_price_and_availability(
    api: APIClient, give_stock: Callable[[UUID, int], None]
) -> None:
    product = ProductFactory(
        sku="K-1",
        name="Kettle",
        slug="kettle",
        description="Boils water.",
        price=Decimal("30.00"),
        category=CategoryFactory(slug="kitchen"),
    )
    give_stock(product.pk, 7)
    ProductFactory(sku="DRAFT-1", status="draft")
    ProductFactory(sku="GONE-1", status="discontinued")

    response = api.get("/api/v1/products/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": str(product.pk),
                "sku": "K-1",
                "name": "Kettle",
                "slug": "kettle",
                "description": "Boils water.",
                "price": "30.00",
                "currency": "EUR",
                "category": "kitchen",
                "status": "active",
                "in_stock": True,
                "available_quantity": 7,
            }
        ],
    }


def test_staff_see_every_status_and_may_filter_by_it(staff_api: APIClient, api: APIClient) -> None:
    ProductFactory(sku="A", status="active")
    ProductFactory(sku="D", status="draft")
    ProductFactory(sku="X", status="discontinued")

    assert sorted(skus(staff_api.get("/api/v1/products/"))) == ["A", "D", "X"]
    assert skus(staff_api.get("/api/v1/products/?status=draft")) == ["D"]
    assert skus(api.get("/api/v1/products/?status=draft")) == []


def test_search_looks_in_name_sku_and_description(api: APIClient) -> None:
    ProductFactory(sku="TENT-1", name="Dome Tent")
    ProductFactory(sku="BAG-1", name="Sleeping Bag", description="Fits in a tent bag.")
    ProductFactory(sku="LAMP-1", name="Lamp")
    ProductFactory(sku="XTENT-9", name="Stakes")

    found = skus(api.get("/api/v1/products/", {"search": "TeNt", "ordering": "name"}))

    assert found == ["TENT-1", "BAG-1", "XTENT-9"]


def test_a_category_lists_its_own_and_its_subcategories_products(api: APIClient) -> None:
    outdoors = CategoryFactory(slug="outdoors")
    camping = CategoryFactory(slug="camping", parent=outdoors)
    tents = CategoryFactory(slug="tents", parent=camping)
    ProductFactory(sku="O", category=outdoors)
    ProductFactory(sku="C", category=camping)
    ProductFactory(sku="T", category=tents)
    ProductFactory(sku="B", category=CategoryFactory(slug="books"))

    def in_category(slug: str) -> list[str]:
        return sorted(skus(api.get("/api/v1/products/", {"category": slug})))

    assert in_category("outdoors") == ["C", "O", "T"]
    assert in_category("camping") == ["C", "T"]
    assert in_category("tents") == ["T"]
    assert in_category("no-such-category") == []


def test_price_range_is_inclusive(api: APIClient) -> None:
    for sku, price in [("A", "5.00"), ("B", "10.00"), ("C", "20.00"), ("D", "20.01")]:
        ProductFactory(sku=sku, price=Decimal(price))

    response = api.get(
        "/api/v1/products/", {"min_price": "10", "max_price": "20", "ordering": "price"}
    )

    assert skus(response) == ["B", "C"]


@pytest.mark.django_db(transaction=True)  # inventory's events reach products after commit
def test_in_stock_keeps_products_with_units_available(
    api: APIClient, give_stock: Callable[[UUID, int], None]
) -> None:
    for sku, units in [("A", 3), ("B", 0), ("C", 1)]:
        give_stock(ProductFactory(sku=sku).pk, units)
    ProductFactory(sku="NO-STOCK-ROW")

    assert sorted(skus(api.get("/api/v1/products/?in_stock=true"))) == ["A", "C"]
    assert len(skus(api.get("/api/v1/products/?in_stock=false"))) == 4


@pytest.mark.django_db(transaction=True)
def test_in_stock_follows_the_last_unit_sold_and_stock_coming_back(api: APIClient) -> None:
    kettle = products.product_create(
        sku="K", name="Kettle", price=Decimal("20.00"), initial_stock=1
    )
    no_stock = ProductFactory(sku="L").pk

    def in_stock() -> list[str]:
        return skus(api.get("/api/v1/products/?in_stock=true"))

    shown_at_first = in_stock()
    last_one = [inventory.ReservationLineIn(product_id=kettle.id, quantity=1)]
    inventory.reservation_create(reference=uuid4(), lines=last_one)  # at a checkout
    after_the_last_unit = in_stock()
    inventory.stock_adjust(product_id=kettle.id, delta=4, reason="delivery")
    after_a_delivery = in_stock()

    assert (shown_at_first, after_the_last_unit, after_a_delivery) == (["K"], [], ["K"])
    assert Product.objects.get(pk=no_stock).in_stock is False


@pytest.mark.postgres
def test_refresh_in_stock_sets_a_catalog_larger_than_one_statement_binds(api: APIClient) -> None:
    # Stock written behind the services' back (a restored backup): no events, so only the
    # command sets the flags, over more products than PostgreSQL binds in one statement.
    ids = [uuid4() for _ in range(66_000)]
    Product.objects.bulk_create(
        [
            Product(id=pk, sku=f"S-{i}", name=f"P {i}", slug=f"p-{i}", price=Decimal("1.00"))
            for i, pk in enumerate(ids)
        ],
        batch_size=5_000,
    )
    in_stock = ids[1:]  # all but the first
    Stock.objects.bulk_create(
        [Stock(product_id=pk, sku=f"S-{i}", on_hand=1) for i, pk in enumerate(in_stock, 1)],
        batch_size=5_000,
    )
    Product.objects.filter(pk=ids[0]).update(in_stock=True)  # it sold out meanwhile
    out = StringIO()

    call_command("refresh_in_stock", stdout=out)
    response = api.get("/api/v1/products/", {"in_stock": "true", "ordering": "name"})

    assert out.getvalue() == "66000 products' in_stock changed\n"
    assert response.status_code == 200
    assert response.json()["count"] == 65_999
    assert skus(response)[:2] == ["S-1", "S-10"]


@pytest.mark.django_db(transaction=True)
def test_an_old_stock_event_delivered_late_leaves_the_flag_as_stock_is_now() -> None:
    kettle = products.product_create(
        sku="K", name="Kettle", price=Decimal("20.00"), initial_stock=2
    )

    handlers.on_stock_crossed_zero(OutOfStock(product_id=kettle.id, sku="K"))  # a replay

    assert Product.objects.get(pk=kettle.id).in_stock is True


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("price", ["cheap", "middle", "dear"]),
        ("-price", ["dear", "middle", "cheap"]),
        ("name", ["dear", "middle", "cheap"]),  # Apple, Banana, Cherry
        ("-created_at", ["cheap", "dear", "middle"]),
        (None, ["cheap", "dear", "middle"]),  # newest first by default
    ],
)
def test_ordering(api: APIClient, ordering: str | None, expected: list[str]) -> None:
    ProductFactory(sku="middle", name="Banana", price=Decimal("10.00"))
    ProductFactory(sku="dear", name="Apple", price=Decimal("99.00"))
    ProductFactory(sku="cheap", name="Cherry", price=Decimal("1.00"))

    params = {"ordering": ordering} if ordering else {}
    assert skus(api.get("/api/v1/products/", params)) == expected


def test_equal_prices_do_not_repeat_or_vanish_across_pages(api: APIClient) -> None:
    made = {ProductFactory(price=Decimal("5.00")).sku for _ in range(7)}

    seen = [
        *skus(api.get("/api/v1/products/?ordering=price&page_size=3&page=1")),
        *skus(api.get("/api/v1/products/?ordering=price&page_size=3&page=2")),
        *skus(api.get("/api/v1/products/?ordering=price&page_size=3&page=3")),
    ]

    assert sorted(seen) == sorted(made)


@pytest.mark.parametrize(
    ("query", "attr", "code"),
    [
        ("min_price=abc", "min_price", "invalid"),
        ("min_price=\u0661\u0660", "min_price", "invalid"),  # Arabic-Indic 10: read as 10
        ("max_price=1e2", "max_price", "invalid"),  # read as 100
        ("max_price=-1", "max_price", "min_value"),
        ("ordering=sku", "ordering", "invalid_choice"),
        ("status=sold", "status", "invalid_choice"),
        ("in_stock=maybe", "in_stock", "invalid"),  # was read as no filter at all
        ("in_stock=2", "in_stock", "invalid"),
        # were answered 20 results, as if not sent
        ("page_size=abc", "page_size", "invalid"),
        ("page_size=0", "page_size", "invalid"),
        ("page_size=-1", "page_size", "invalid"),
        ("page_size=", "page_size", "invalid"),
        ("page_size=" + "9" * 5000, "page_size", "invalid"),  # past what int() reads: a 500
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(
    api: APIClient, query: str, attr: str, code: str
) -> None:
    response = api.get(f"/api/v1/products/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [(attr, code)]


@pytest.mark.django_db(transaction=True)  # in_stock: inventory's events arrive after commit
@pytest.mark.parametrize("query", ["", "&in_stock=true&search=Product&ordering=-price"])
def test_the_list_costs_the_same_queries_for_5_or_100_products(
    api: APIClient,
    give_stock: Callable[[UUID, int], None],
    django_assert_num_queries: DjangoAssertNumQueries,
    query: str,
) -> None:
    category = CategoryFactory()
    for product in ProductFactory.create_batch(100, category=category):
        give_stock(product.pk, 2)
    expected = 3  # count + page + one stock call for the page, whatever the filters

    with django_assert_num_queries(expected):
        small = api.get(f"/api/v1/products/?page_size=5{query}")
    with django_assert_num_queries(expected):
        large = api.get(f"/api/v1/products/?page_size=100{query}")

    assert (len(small.json()["results"]), len(large.json()["results"])) == (5, 100)
    assert all(item["available_quantity"] == 2 for item in large.json()["results"])


@pytest.mark.parametrize("page", ["\u0662", "2.0", "-1", "two"])
def test_a_page_that_is_not_a_whole_number_in_ascii_digits_is_404(
    api: APIClient, page: str
) -> None:
    ProductFactory.create_batch(3)

    response = api.get(f"/api/v1/products/?page_size=2&page={page}")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_page_2_and_the_last_page_are_found(api: APIClient) -> None:
    ProductFactory.create_batch(3)

    for page in ("2", "last"):
        assert len(api.get(f"/api/v1/products/?page_size=2&page={page}").json()["results"]) == 1


def test_a_page_size_above_100_gives_100(api: APIClient) -> None:
    ProductFactory.create_batch(101)

    assert len(api.get("/api/v1/products/?page_size=500").json()["results"]) == 100


def test_one_product_by_id(api: APIClient, give_stock: Callable[[UUID, int], None]) -> None:
    product = ProductFactory(sku="K-1", image_url="https://img.example.com/k.png")
    give_stock(product.pk, 1)

    response = api.get(f"/api/v1/products/{product.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["sku"], body["image_url"], body["available_quantity"]) == (
        str(product.pk),
        "K-1",
        "https://img.example.com/k.png",
        1,
    )
    assert set(body) >= {"created_at", "updated_at", "in_stock", "price", "currency"}


@pytest.mark.parametrize("status", ["draft", "discontinued"])
def test_hidden_products_are_not_found_for_shoppers_but_shown_to_staff(
    api: APIClient, user_api: APIClient, staff_api: APIClient, status: str
) -> None:
    product = ProductFactory(status=status)
    url = f"/api/v1/products/{product.pk}/"

    for client in (api, user_api):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"
    assert staff_api.get(url).json()["status"] == status


def test_an_unknown_product_is_404_in_the_error_shape(api: APIClient) -> None:
    response = api.get(f"/api/v1/products/{uuid4()}/")

    assert response.status_code == 404
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": "No product with this id.", "attr": None}],
    }


def test_categories_are_listed_by_name_with_their_parent(api: APIClient) -> None:
    home = CategoryFactory(name="Home", slug="home")
    kitchen = CategoryFactory(name="Kitchen", slug="kitchen", parent=home)

    response = api.get("/api/v1/categories/")

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"id": str(home.pk), "name": "Home", "slug": "home", "parent": None},
        {"id": str(kitchen.pk), "name": "Kitchen", "slug": "kitchen", "parent": "home"},
    ]


def test_the_fast_list_item_renders_exactly_what_the_documented_serializer_does() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal
    from uuid import uuid4

    from apps.products.api.views import ProductListOutputSerializer, product_list_item
    from apps.products.services import ProductDTO

    dto = ProductDTO(
        id=uuid4(),
        sku="SKU-1",
        name="Kettle",
        slug="kettle",
        description="Boils water.",
        price=Decimal("19.9"),
        currency="EUR",
        category=None,
        status="active",
        image_url="",
        in_stock=True,
        available_quantity=3,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    assert product_list_item(dto) == ProductListOutputSerializer(dto).data


def test_the_storefront_page_query_gives_the_rows_and_order_of_the_orm_list() -> None:
    from datetime import UTC, datetime

    from apps.products import selectors
    from apps.products.dtos import products_to_dtos
    from apps.products.models import Product

    shoes = CategoryFactory(slug="shoes")
    same_moment = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(7):
        ProductFactory(category=shoes if n % 2 else None, price=Decimal(f"{n}.50"))
    ProductFactory(status="draft")
    ProductFactory(status="discontinued")
    # Ties on created_at: the order must still be the same (by id) in both.
    Product.objects.filter(price__lt=4).update(created_at=same_moment)

    orm = selectors.product_list(filters={}, staff=False)
    fast = selectors.NewestActiveProducts()

    assert fast.count() == orm.count() == 7
    for page in (slice(0, 3), slice(3, 6), slice(6, 9)):
        assert products_to_dtos(fast[page]) == products_to_dtos(orm[page])


@pytest.mark.django_db(transaction=True)
def test_a_product_created_with_stock_is_in_stock_without_waiting_for_inventorys_event(
    api: APIClient, settings: Any
) -> None:
    # Where inventory runs apart, its BackInStock may be handled before the product commits.
    settings.BUS_EAGER = False  # no subscriber runs here

    kettle = products.product_create(
        sku="K", name="Kettle", price=Decimal("20.00"), initial_stock=3
    )

    assert Product.objects.get(pk=kettle.id).in_stock is True
    assert skus(api.get("/api/v1/products/?in_stock=true")) == ["K"]
