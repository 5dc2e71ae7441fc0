"""Products under real concurrency (PostgreSQL): row locks keep the price history exact."""

import threading
from collections.abc import Callable
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.inventory import services as inventory
from apps.inventory.events import BackInStock
from apps.products import handlers, services
from apps.products.models import Category, Product
from ecommerce.accounts.models import User
from ecommerce.bus.models import OutboxEvent
from tests.postgres import first_commits_late
from tests.products.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread (own database connection), all released at once."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_price_changes_form_one_unbroken_history() -> None:
    product = ProductFactory(price=Decimal("10.00"))
    prices = [Decimal(f"{n}.00") for n in range(11, 19)]

    results = run_together(
        [
            lambda p=price: services.product_change_price(product_id=product.pk, price=p)
            for price in prices
        ]
    )

    assert not [r for r in results if isinstance(r, Exception)]
    history = [
        (Decimal(e["old_price"]), Decimal(e["new_price"]))
        for e in OutboxEvent.objects.filter(event_type="products.ProductPriceChanged")
        .order_by("sequence")
        .values_list("payload", flat=True)
    ]
    assert len(history) == len(prices)
    assert history[0][0] == Decimal("10.00")
    assert all(history[i][1] == history[i + 1][0] for i in range(len(history) - 1))
    assert sorted(new for _, new in history) == prices
    assert Product.objects.get().price == history[-1][1]


def test_the_same_sku_created_at_once_makes_one_product() -> None:
    results = run_together(
        [
            lambda n=n: services.product_create(sku="RACE-1", name=f"Racer {n}", price=Decimal(1))
            for n in range(6)
        ]
    )

    assert sum(isinstance(r, services.ProductDTO) for r in results) == 1
    assert sum(isinstance(r, services.DuplicateSku) for r in results) == 5
    assert Product.objects.count() == 1
    assert OutboxEvent.objects.filter(event_type="products.ProductCreated").count() == 1


# Two writes of the same unique value: the first holds its transaction open until the second
# has passed its "is it taken?" check and waits on the unique index, then commits
# (tests.postgres.first_commits_late).


def test_a_slug_patch_racing_another_is_a_400_not_a_500() -> None:
    staff = User.objects.create_superuser(email="s@example.com", password="x" * 12)
    a, b = ProductFactory(slug="tent-a"), ProductFactory(slug="tent-b")
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(staff)

    response = first_commits_late(
        lambda: services.product_update(product_id=a.pk, slug="tent"),
        lambda: client.patch(f"/api/v1/products/{b.pk}/", {"slug": "tent"}, format="json"),
    )

    assert response.status_code == 400, response.status_code  # type: ignore[attr-defined]
    assert response.json()["errors"][0]["code"] == "duplicate_slug"  # type: ignore[attr-defined]


def test_a_product_created_beside_one_of_the_same_name_gets_a_slug_of_its_own() -> None:
    # No slug given: the service picks one, so there is nothing for the client to fix.
    result = first_commits_late(
        lambda: services.product_create(sku="STOVE-1", name="Camp Stove", price=Decimal(5)),
        lambda: services.product_create(sku="STOVE-2", name="Camp Stove", price=Decimal(5)),
    )

    assert isinstance(result, services.ProductDTO), repr(result)
    assert Product.objects.count() == 2


def test_a_category_created_twice_at_once_is_duplicate_slug_not_integrity_error() -> None:
    result = first_commits_late(
        lambda: services.category_create(name="Tents"),
        lambda: services.category_create(name="Tents"),
    )

    assert isinstance(result, services.DuplicateSlug), repr(result)
    assert Category.objects.count() == 1


def test_two_moves_at_once_cannot_make_a_loop() -> None:
    services.category_create(name="Sports")
    outdoors = services.category_create(name="Outdoors")
    services.category_create(name="Camping", parent="outdoors")
    sports = Category.objects.get(slug="sports")

    # Outdoors goes under Sports while Sports goes under Camping (itself under Outdoors):
    # each was fine on its own, together a loop. The second waits for the first, then sees it.
    second = first_commits_late(
        lambda: services.category_update(category_id=outdoors.id, parent="sports"),
        lambda: services.category_update(category_id=sports.pk, parent="camping"),
    )

    assert isinstance(second, services.InvalidCategoryParent), repr(second)
    parents = dict(Category.objects.values_list("slug", "parent__slug"))
    assert parents == {"sports": None, "outdoors": "sports", "camping": "outdoors"}


def test_a_category_renamed_meanwhile_does_not_hold_up_a_product_added_to_it() -> None:
    # A product's insert takes a key-share lock on its category; a rename locks the row only
    # against other writes of the row (FOR NO KEY UPDATE), so the insert does not wait for it.
    tents = services.category_create(name="Tents")
    renamed, finish = threading.Event(), threading.Event()

    def rename() -> None:
        try:
            with transaction.atomic():
                services.category_update(category_id=tents.id, name="Tents and shelters")
                renamed.set()
                finish.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=rename)
    thread.start()
    try:
        assert renamed.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            product = services.product_create(
                sku="TENT-1", name="Ridge Tent", price=Decimal(90), category="tents"
            )
    finally:
        finish.set()
        thread.join()

    assert Product.objects.get(pk=product.id).category.name == "Tents and shelters"


def test_two_stock_crossings_handled_side_by_side_leave_the_flag_as_stock_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OutOfStock and BackInStock have a subscriber each: the bus may run both at once.
    kettle = services.product_create(sku="K", name="Kettle", price=Decimal("20.00"))
    inventory.stock_adjust(product_id=kettle.id, delta=1, reason="delivery")
    Product.objects.filter(pk=kettle.id).update(in_stock=False)  # BackInStock not handled yet
    has_read, go_on = threading.Event(), threading.Event()
    read_stock = inventory.stock_get_many

    def slow_for_back_in_stock(**kwargs: object) -> object:
        levels = read_stock(**kwargs)  # type: ignore[arg-type]
        if threading.current_thread().name == "back-in-stock":
            has_read.set()
            go_on.wait(10)  # it read 1 available; it writes after the sale below
        return levels

    monkeypatch.setattr(services.inventory, "stock_get_many", slow_for_back_in_stock)

    def back_in_stock() -> None:
        try:
            with transaction.atomic():
                handlers.on_stock_crossed_zero(
                    BackInStock(product_id=kettle.id, sku="K", available=1)
                )
        finally:
            connection.close()

    handler = threading.Thread(target=back_in_stock, name="back-in-stock")
    handler.start()
    assert has_read.wait(10)
    threading.Timer(1, go_on.set).start()  # the earlier handler writes while this one runs
    # The last unit sells: OutOfStock, handled now (the bus is eager in tests).
    last_one = [inventory.ReservationLineIn(product_id=kettle.id, quantity=1)]
    inventory.reservation_create(reference=uuid4(), lines=last_one)
    handler.join()

    assert inventory.stock_get(product_id=kettle.id).available == 0
    assert Product.objects.get(pk=kettle.id).in_stock is False


def test_the_hourly_refresh_locks_only_the_flags_that_look_wrong() -> None:
    right, wrong = (
        services.product_create(sku=s, name=s, price=Decimal("1.00"), initial_stock=1) for s in "AB"
    )
    Product.objects.filter(pk=wrong.id).update(in_stock=False)

    with CaptureQueriesContext(connection) as queries:
        assert services.products_refresh_in_stock() == 1

    [locking] = [q["sql"] for q in queries if "FOR NO KEY UPDATE" in q["sql"]]
    assert wrong.id.hex in locking
    assert right.id.hex not in locking
    assert Product.objects.get(pk=wrong.id).in_stock is True
