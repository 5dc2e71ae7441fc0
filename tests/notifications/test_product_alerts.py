"""Back-in-stock and price-drop alerts: every waiting subscriber hears once, with the
product's current name and price from the catalog."""

from collections.abc import Callable
from decimal import Decimal
from uuid import uuid4

import pytest
from django.core import mail

from apps.inventory import services as inventory
from apps.inventory.events import BackInStock
from apps.notifications import services
from apps.notifications.models import Subscription
from apps.products import services as products
from apps.products.events import ProductPriceChanged
from ecommerce.accounts.models import User
from ecommerce.bus import operations
from ecommerce.bus.relay import Relay
from tests.cart.factories import make_product
from tests.notifications.conftest import deliver, notifications, sent_mail

pytestmark = pytest.mark.django_db(transaction=True)


def subscribe(user: User, product: products.ProductDTO, kind: str) -> None:
    services.subscription_create(user_id=user.pk, product_id=product.id, kind=kind)


def restock(product: products.ProductDTO, delta: int) -> None:
    inventory.stock_adjust(product_id=product.id, delta=delta, reason="count")


# -- back in stock -------------------------------------------------------------------------------


def test_three_subscribers_hear_once_each_however_often_the_stock_comes_back(
    make_user: Callable[..., User],
) -> None:
    lamp = make_product(name="Desk Lamp", price="30.00", stock=0)
    users = [make_user(f"fan{i}@example.com") for i in range(3)]
    for user in users:
        subscribe(user, lamp, "back_in_stock")
    cheap_hunter = make_user("cheap@example.com")
    subscribe(cheap_hunter, lamp, "price_drop")
    # The catalog changes after they subscribed: the alert tells what it is now.
    products.product_update(product_id=lamp.id, name="Brass Desk Lamp")
    products.product_change_price(product_id=lamp.id, price=Decimal("34.00"))

    restock(lamp, 5)  # 0 -> 5
    restock(lamp, -5)  # 5 -> 0
    restock(lamp, 5)  # 0 -> 5

    emails = sorted(sent_mail())
    assert emails == [
        ([f"fan{i}@example.com"], "Example Shop: Brass Desk Lamp is back in stock")
        for i in range(3)
    ]
    assert "back in stock at Example Shop, at 34.00 EUR" in mail.outbox[0].body
    assert sorted(notifications(kind="back_in_stock")) == sorted(
        [("back_in_stock", "email", f"fan{i}@example.com", "sent") for i in range(3)]
        + [("back_in_stock", "in_app", str(u.pk), "sent") for u in users]
    )
    assert Subscription.objects.filter(kind="back_in_stock", fulfilled_at__isnull=True).count() == 0
    assert Subscription.objects.get(user=cheap_hunter).fulfilled_at is None


def test_subscribing_again_after_the_alert_fired_arms_it_for_the_next_time(ann: User) -> None:
    lamp = make_product(stock=0)
    subscribe(ann, lamp, "back_in_stock")
    restock(lamp, 5)
    restock(lamp, -5)

    subscribe(ann, lamp, "back_in_stock")
    restock(lamp, 5)

    assert len(mail.outbox) == 2
    assert Subscription.objects.get().fulfilled_at is not None


def test_news_that_is_stale_when_it_arrives_notifies_nobody_and_the_alert_keeps_waiting(
    ann: User,
) -> None:
    lamp = make_product(stock=0)
    subscribe(ann, lamp, "back_in_stock")

    # A BackInStock that the relay delivers late: the product is out of stock again by now.
    deliver(BackInStock(product_id=lamp.id, sku=lamp.sku, available=5))

    assert notifications() == []
    assert Subscription.objects.get().fulfilled_at is None


def test_back_in_stock_for_a_product_the_catalog_does_not_know_notifies_nobody(
    ann: User,
) -> None:
    deliver(BackInStock(product_id=uuid4(), sku="GONE-1", available=5))

    assert notifications() == []


# -- price drops ---------------------------------------------------------------------------------


def test_a_price_drop_tells_every_price_drop_subscriber_once(
    make_user: Callable[..., User],
) -> None:
    chair = make_product(name="Oak Chair", price="120.00")
    bob, eve, zoe = (make_user(f"{n}@example.com") for n in ("bob", "eve", "zoe"))
    subscribe(bob, chair, "price_drop")
    subscribe(eve, chair, "price_drop")
    subscribe(zoe, chair, "back_in_stock")

    products.product_change_price(product_id=chair.id, price=Decimal("130.00"))  # a rise
    assert mail.outbox == []
    products.product_change_price(product_id=chair.id, price=Decimal("99.50"))
    products.product_change_price(product_id=chair.id, price=Decimal("89.00"))  # fulfilled

    assert sorted(sent_mail()) == [
        (["bob@example.com"], "Example Shop: Oak Chair is now 99.50 EUR"),
        (["eve@example.com"], "Example Shop: Oak Chair is now 99.50 EUR"),
    ]
    # From the price they subscribed at, not from the rise in between.
    body = mail.outbox[0].body
    assert "went down from 120.00 EUR to 99.50 EUR at Example Shop: you save 20.50 EUR" in body
    assert sorted(n[:2] for n in notifications(kind="price_drop")) == [
        ("price_drop", "email"),
        ("price_drop", "email"),
        ("price_drop", "in_app"),
        ("price_drop", "in_app"),
    ]
    assert Subscription.objects.get(user=zoe).fulfilled_at is None


def test_a_drop_undone_before_it_is_handled_notifies_nobody(ann: User) -> None:
    chair = make_product(price="120.00")
    subscribe(ann, chair, "price_drop")

    # Delivered late: the catalog price is back at 120.00 by now.
    deliver(
        ProductPriceChanged(
            product_id=chair.id,
            sku=chair.sku,
            name=chair.name,
            old_price=Decimal("120.00"),
            new_price=Decimal("80.00"),
            currency="EUR",
        )
    )

    assert notifications() == []
    assert Subscription.objects.get().fulfilled_at is None


def test_a_drop_that_leaves_the_price_above_a_subscribers_mark_keeps_them_waiting(
    make_user: Callable[..., User],
) -> None:
    chair = make_product(name="Oak Chair", price="100.00")
    bob, eve = make_user("bob@example.com"), make_user("eve@example.com")
    subscribe(bob, chair, "price_drop")  # at 100.00
    products.product_change_price(product_id=chair.id, price=Decimal("150.00"))
    subscribe(eve, chair, "price_drop")  # at 150.00

    products.product_change_price(product_id=chair.id, price=Decimal("140.00"))

    # Cheaper than when eve subscribed; not than when bob did.
    assert sent_mail() == [(["eve@example.com"], "Example Shop: Oak Chair is now 140.00 EUR")]
    assert "you save 10.00 EUR" in mail.outbox[0].body
    assert Subscription.objects.get(user=bob).fulfilled_at is None

    products.product_change_price(product_id=chair.id, price=Decimal("90.00"))

    assert sent_mail()[1:] == [(["bob@example.com"], "Example Shop: Oak Chair is now 90.00 EUR")]
    assert "went down from 100.00 EUR to 90.00 EUR" in mail.outbox[1].body
    assert not Subscription.objects.filter(fulfilled_at__isnull=True).exists()


def test_an_alert_armed_again_takes_the_price_of_then_as_its_mark(ann: User) -> None:
    chair = make_product(price="100.00")
    subscribe(ann, chair, "price_drop")
    products.product_change_price(product_id=chair.id, price=Decimal("80.00"))  # notified
    subscribe(ann, chair, "price_drop")  # armed again at 80.00

    products.product_change_price(product_id=chair.id, price=Decimal("120.00"))
    products.product_change_price(product_id=chair.id, price=Decimal("90.00"))
    assert len(sent_mail()) == 1

    products.product_change_price(product_id=chair.id, price=Decimal("75.00"))
    assert "went down from 80.00 EUR to 75.00 EUR" in mail.outbox[1].body


def test_an_alert_made_before_marks_were_kept_compares_the_changes_old_price(ann: User) -> None:
    chair = make_product(price="100.00")
    subscribe(ann, chair, "price_drop")
    Subscription.objects.update(price_when_subscribed=None)
    products.product_change_price(product_id=chair.id, price=Decimal("150.00"))

    products.product_change_price(product_id=chair.id, price=Decimal("140.00"))

    assert "went down from 150.00 EUR to 140.00 EUR" in mail.outbox[0].body


def test_an_old_alert_event_replayed_leaves_an_alert_armed_since_waiting(ann: User) -> None:
    lamp = make_product(stock=0)
    subscribe(ann, lamp, "back_in_stock")
    restock(lamp, 5)  # told
    subscribe(ann, lamp, "back_in_stock")  # armed again

    # An operator replays the subscriber: the old event finds its notifications and sends
    # nothing, and the alert armed since is not used up by it.
    assert operations.replay(operations.ReplaySlice(subscriber="notifications.back_in_stock"))
    Relay().drain()

    assert len(mail.outbox) == 1
    assert Subscription.objects.get().fulfilled_at is None
    restock(lamp, -5)
    restock(lamp, 5)
    assert len(mail.outbox) == 2


def test_a_subscriber_whose_mark_a_drop_missed_hears_on_the_next_change(ann: User) -> None:
    # Subscribed at 100.00 while the drop to 80.00 was being handled: that handler did not
    # see the subscription. The next change, a rise to 90.00, is still below the mark.
    chair = make_product(price="80.00")
    subscribe(ann, chair, "price_drop")
    Subscription.objects.update(price_when_subscribed=Decimal("100.00"))

    products.product_change_price(product_id=chair.id, price=Decimal("90.00"))

    assert "went down from 100.00 EUR to 90.00 EUR" in mail.outbox[0].body
