"""Numbers given to the operators' commands: out of range is a usage error, nothing runs."""

from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command

from apps.products.models import Category, Product
from ecommerce.bus import publish
from ecommerce.bus.models import Delivery
from tests.bus.support.events import ThingHappened

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("relay_events", ["--once", "--batch-size", "-1"]),
        ("relay_events", ["--once", "--batch-size", "0"]),
        ("relay_events", ["--once", "--batch-size", "10001"]),
        ("relay_events", ["--once", "--batch-size", "many"]),
        ("relay_events", ["--once", "--poll", "0"]),
        ("relay_events", ["--once", "--poll", "nan"]),
        ("relay_events", ["--once", "--poll", "-1"]),
        ("consume_events", ["--app", "bus_support", "--batch-size", "-1"]),
        ("consume_events", ["--app", "bus_support", "--poll", "inf"]),
        ("seed_demo", ["--products", "-5"]),
        ("seed_demo", ["--products", "1e3"]),
        ("serve", ["--port", "70000"]),
        ("serve", ["--workers", "0"]),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_and_nothing_runs(
    command: str, args: list[str]
) -> None:
    publish(ThingHappened(thing_id=uuid4(), n=1))  # something the relay would deliver
    pending = Delivery.objects.filter(status="pending").count()

    with pytest.raises(CommandError, match=f"argument {args[-2]}"):
        call_command(command, *args, stdout=StringIO(), stderr=StringIO())

    assert Delivery.objects.filter(status="pending").count() == pending
    assert not Category.objects.exists()
    assert not Product.objects.exists()
