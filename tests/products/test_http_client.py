"""Products' reads called over HTTP (apps.products.http_client) against a live server running
this project: the same DTOs and the same domain errors as in-process."""

from collections.abc import Callable
from uuid import uuid4

import pytest

from apps.inventory import services as inventory
from apps.products import services
from tests.cart.factories import make_product

pytestmark = pytest.mark.django_db(transaction=True)

OverHttp = Callable[..., str]


@pytest.mark.parametrize(
    "remote_apps", [("products",), ("products", "inventory")], ids=["products", "both"]
)
def test_products_over_http_are_the_same_dtos_as_in_process(
    over_http: OverHttp, remote_apps: tuple[str, ...]
) -> None:
    mug = make_product(price="4.50", stock=6)
    old = make_product(stock=0)
    services.product_discontinue(product_id=old.id)
    inventory.reservation_create(
        reference=uuid4(), lines=[inventory.ReservationLineIn(product_id=mug.id, quantity=2)]
    )
    here_one = services.product_get(product_id=mug.id)
    here_many = services.product_get_many(product_ids=[mug.id, old.id, uuid4()])

    over_http(*remote_apps)

    assert services.product_get(product_id=mug.id) == here_one
    assert services.product_get_many(product_ids=[mug.id, old.id, uuid4()]) == here_many
    assert (here_one.available_quantity, here_many[old.id].status) == (4, "discontinued")
    assert services.product_get_many(product_ids=[]) == {}


def test_a_lookup_of_more_products_than_one_call_takes_is_made_in_batches(
    over_http: OverHttp,
) -> None:
    # A cart may hold more lines than one internal lookup takes (LOOKUP_BATCH): in one
    # process that is one query, over HTTP it was a 400 turned ServiceCallFailed.
    mug = make_product(stock=3)
    ids = [mug.id, *(uuid4() for _ in range(services.LOOKUP_BATCH))]
    here = services.product_get_many(product_ids=ids)

    over_http("products")

    assert services.product_get_many(product_ids=ids) == here == {mug.id: here[mug.id]}


def test_an_unknown_product_over_http_is_product_not_found(over_http: OverHttp) -> None:
    over_http("products")

    with pytest.raises(services.ProductNotFound) as raised:
        services.product_get(product_id=uuid4())

    assert (raised.value.status, raised.value.detail) == (404, "No product with this id.")


def test_a_product_created_with_stock_while_inventory_is_remote_has_it(
    over_http: OverHttp,
) -> None:
    over_http("inventory")

    mug = make_product(stock=3)

    assert (mug.in_stock, mug.available_quantity) == (True, 3)
    assert inventory.stock_get(product_id=mug.id).on_hand == 3
