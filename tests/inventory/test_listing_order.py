"""Stock.listed follows products' events through three subscribers of one product
(inventory.create_stock, list_stock, unlist_stock). The bus keeps an aggregate's events in
order per subscriber only, so an older event one subscriber retries late must not undo a
newer one another subscriber applied."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.inventory import handlers as inventory_handlers
from apps.inventory.models import Stock
from apps.products import services as products
from ecommerce.bus.models import Delivery
from ecommerce.bus.relay import Relay
from tests.cart.factories import make_product

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_publish_retried_after_the_discontinuation_does_not_list_the_stock_again(
    api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.BUS_EAGER = False
    draft = make_product(stock=5, status="draft")
    Relay().drain()

    # The product is published; inventory.list_stock fails once on it (a lock timeout, a
    # database hiccup) and waits for its backoff.
    real = inventory_handlers.services.stock_set_listed
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        real(**kwargs)

    products.product_update(product_id=draft.id, status="active")
    monkeypatch.setattr(inventory_handlers.services, "stock_set_listed", flaky)
    Relay().drain()
    assert Delivery.objects.get(subscriber="inventory.list_stock").status == "pending"
    monkeypatch.setattr(inventory_handlers.services, "stock_set_listed", real)

    # Staff take it off sale meanwhile; inventory.unlist_stock handles that at once.
    products.product_discontinue(product_id=draft.id)
    Relay().drain()
    assert Stock.objects.get(product_id=draft.id).listed is False

    # The backoff passes and the relay retries the older ProductUpdated.
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now() - timedelta(1))
    Relay().drain()
    assert not Delivery.objects.exclude(status="delivered").exists()

    assert Stock.objects.get(product_id=draft.id).listed is False
    assert api.get(f"/api/v1/inventory/{draft.id}/").status_code == 404


def test_a_publish_applied_before_the_late_create_stock_is_not_undone_by_it(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No initial stock: the row is made by inventory.create_stock. That delivery fails
    # once; meanwhile list_stock applies the publish (to no row, it used to: nothing kept),
    # and the retried ProductCreated (draft) must not hide an active product.
    settings.BUS_EAGER = False
    real = inventory_handlers.services.stock_create
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real(**kwargs)

    monkeypatch.setattr(inventory_handlers.services, "stock_create", flaky)
    draft = products.product_create(
        sku="TENT-1", name="Tent", price=Decimal("99.00"), status="draft"
    )
    Relay().drain()
    products.product_update(product_id=draft.id, status="active")
    Relay().drain()
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now() - timedelta(1))
    Relay().drain()
    assert not Delivery.objects.exclude(status="delivered").exists()

    assert Stock.objects.get(product_id=draft.id).listed is True
