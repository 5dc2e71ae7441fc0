"""The admin's long lists (ledgers, logs, orders) cost the same at any size: what a page shows
is read with a LIMIT, never by scanning the whole table for the filters' choices."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.inventory.models import Reservation
from apps.notifications.models import Notification
from apps.payments.models import Payment
from apps.products import services as products
from apps.products.models import Product
from ecommerce.accounts.models import User
from ecommerce.bus.models import OutboxEvent
from tests.notifications.factories import InAppNotificationFactory
from tests.payments.factories import PaymentFactory
from tests.products.factories import ProductFactory

pytestmark = pytest.mark.django_db

LONG_LISTS = [
    "/admin/bus/delivery/",
    "/admin/bus/outboxevent/",
    "/admin/cart/cart/",
    "/admin/core/idempotencykey/",
    "/admin/inventory/reservation/",
    "/admin/inventory/stockmovement/",
    "/admin/notifications/notification/",
    "/admin/payments/payment/",
]


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(
        User.objects.create_superuser(email="boss@example.com", password="a-long-passphrase")
    )
    return client


@pytest.mark.parametrize("url", LONG_LISTS)
def test_a_long_list_does_not_read_every_rows_date_for_its_links(
    admin_client: Client, url: str
) -> None:
    # A date hierarchy lists the years (then months, days) that hold rows: a DISTINCT over a
    # date truncation of every row, 0.7 s at a million events.
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(url)

    assert page.status_code == 200
    assert [q["sql"] for q in queries if "trunc" in q["sql"].lower()] == []


@pytest.mark.parametrize("url", LONG_LISTS)
def test_a_long_lists_filters_offer_choices_without_reading_the_table_for_them(
    admin_client: Client, url: str
) -> None:
    # Django's filter on a plain text column lists the values with a DISTINCT over every row.
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(url)

    assert page.status_code == 200
    assert [q["sql"] for q in queries if "DISTINCT" in q["sql"]] == []


def test_events_and_deliveries_filter_by_type_and_subscriber(admin_client: Client) -> None:
    products.product_create(sku="K", name="Kettle", price=Decimal("20.00"))

    def shown(url: str, **query: str) -> int:
        return len(admin_client.get(url, query).context["cl"].result_list)

    events, deliveries = "/admin/bus/outboxevent/", "/admin/bus/delivery/"
    assert shown(events, event_type="products.ProductCreated") == 1
    assert shown(events, event_type="products.ProductDiscontinued") == 0
    assert shown(events, aggregate_type="product") == 1
    assert shown(deliveries, subscriber="inventory.create_stock") == 1
    assert shown(deliveries, subscriber="cart.drop_product") == 0
    choices = admin_client.get(events).context["cl"].filter_specs[0].lookup_choices
    assert ("products.ProductCreated", "products.ProductCreated") in choices


def test_a_long_list_filters_by_date_instead(admin_client: Client) -> None:
    old, new = PaymentFactory.create_batch(2)
    Payment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    since = str(timezone.now() - timedelta(days=7))  # as the "Past 7 days" link sends it

    page = admin_client.get("/admin/payments/payment/", {"created_at__gte": since})

    assert [p.pk for p in page.context["cl"].result_list] == [new.pk]


def plan_of(table: str, ask: Callable[[], object]) -> str:
    """PostgreSQL's plan for the query on ``table`` that ``ask`` has the admin make (the list's
    page, or its search), as over more rows than one page. Sequential scans are ruled out: on
    a test's small table the planner would choose one whatever the indexes."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    with CaptureQueriesContext(connection) as queries:
        ask()
    [sql] = [q["sql"] for q in queries if q["sql"].startswith(f'SELECT "{table}"."id"')]
    sql += "" if "LIMIT" in sql else " LIMIT 100"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "table", "index"),
    [
        ("/admin/payments/payment/", "payments_payment", "payment_newest"),
        ("/admin/notifications/notification/", "notifications_notification", "notification_newest"),
        ("/admin/inventory/reservation/", "inventory_reservation", "inventory_reservation_newest"),
        ("/admin/products/product/", "products_product", "products_name_idx"),
    ],
)
def test_a_long_list_reads_its_page_in_its_order_from_an_index(
    admin_client: Client, url: str, table: str, index: str
) -> None:
    # Without one, each page sorted the whole table first (125-180 ms at 500k payments).
    # Enough rows that the planner's estimates favour an index where one serves.
    Payment.objects.bulk_create(PaymentFactory.build_batch(2_000))
    Notification.objects.bulk_create(
        InAppNotificationFactory.build_batch(2_000, user=User.objects.get())
    )
    later = timezone.now() + timedelta(minutes=15)
    Reservation.objects.bulk_create(
        Reservation(reference=uuid4(), expires_at=later) for _ in range(2_000)
    )
    Product.objects.bulk_create(ProductFactory.build_batch(2_000))

    def page() -> None:
        assert admin_client.get(url).status_code == 200

    plan = plan_of(table, page)

    assert index in plan
    assert "Sort" not in plan.replace("Sort Key", "")


def found(client: Client, url: str, q: str) -> list[object]:
    page = client.get(url, {"q": q})
    assert page.status_code == 200
    return [row.pk for row in page.context["cl"].result_list]


def test_a_record_is_found_by_any_of_its_ids_and_by_its_other_fields(
    admin_client: Client,
) -> None:
    ann, bob = PaymentFactory(email="ann@example.com"), PaymentFactory(email="bob@example.com")
    payments = "/admin/payments/payment/"

    assert found(admin_client, payments, str(ann.id)) == [ann.id]
    assert found(admin_client, payments, f" {str(ann.id).upper()} ") == [ann.id]
    assert found(admin_client, payments, str(bob.cart_id)) == [bob.id]
    assert found(admin_client, payments, "ann@") == [ann.id]
    assert found(admin_client, payments, "no-such-id") == []
    assert sorted(found(admin_client, payments, "")) == sorted([ann.id, bob.id])


def test_an_event_is_found_by_its_uuid_or_by_its_aggregates_id_held_as_text(
    admin_client: Client,
) -> None:
    kettle = products.product_create(sku="K", name="Kettle", price=Decimal("20.00"))
    event = OutboxEvent.objects.get()
    events = "/admin/bus/outboxevent/"

    assert found(admin_client, events, str(event.event_id)) == [event.pk]
    assert found(admin_client, events, str(kettle.id)) == [event.pk]  # aggregate_id: text
    assert found(admin_client, events, str(uuid4())) == []


@pytest.mark.postgres
def test_a_search_by_id_reads_the_ids_index(admin_client: Client) -> None:
    # Django's "=id" compares UPPER(id::text) with the term: every row, on every search.
    Payment.objects.bulk_create(PaymentFactory.build_batch(2_000))
    wanted = Payment.objects.order_by("?").first()
    assert wanted is not None

    def search() -> None:
        assert found(admin_client, "/admin/payments/payment/", str(wanted.id)) == [wanted.id]

    plan = plan_of("payments_payment", search)

    # Found by the id's index (its condition), not by reading every row through another.
    assert "Index Cond: (id = " in plan, plan
    assert "upper(" not in plan, plan


@pytest.mark.postgres
def test_an_event_search_by_an_aggregates_id_reads_the_aggregates_index(
    admin_client: Client,
) -> None:
    kettle = products.product_create(sku="K", name="Kettle", price=Decimal("20.00"))
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            event_id=uuid4(),
            event_type="products.ProductPriceChanged",
            aggregate_type="product",
            aggregate_id=str(uuid4()),
            sequence=1,
            payload={},
            occurred_at=timezone.now(),
            correlation_id=uuid4(),
        )
        for _ in range(5_000)
    )

    def search() -> None:
        assert len(found(admin_client, "/admin/bus/outboxevent/", str(kettle.id))) == 1

    plan = plan_of("bus_event", search)

    # The aggregate id alone has no index: it is looked up under each declared aggregate type.
    assert "bus_event_aggregate_seq" in plan, plan
    assert "Filter" not in plan, plan
