"""Kafka consumer: a dead letter holds back its aggregate's later events, as the relay does."""

from uuid import uuid4

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from ecommerce.bus.models import Delivery
from ecommerce.bus.relay import Relay
from tests.bus.support.events import ThingHappened
from tests.bus.support.models import Poison
from tests.bus.test_kafka import FRAGILE, cluster, consume, effects, kafka_bus, publish_committed

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["cluster", "kafka_bus"]


def test_an_event_behind_a_dead_letter_of_its_aggregate_waits_for_the_operator(
    kafka_bus: str, settings: SettingsWrapper
) -> None:
    settings.BUS_MAX_ATTEMPTS = 1
    thing = uuid4()
    Poison.objects.create(aggregate_id=str(thing))
    publish_committed(ThingHappened(thing_id=thing, n=1))
    Relay().drain()
    consume(lambda c: c.messages_read == 1)
    assert Delivery.objects.get(subscriber=FRAGILE).status == "dead"

    # The handler is fixed, but the dead letter is not retried yet: the next event waits.
    Poison.objects.all().delete()
    publish_committed(ThingHappened(thing_id=thing, n=2))
    Relay().drain()
    consume(lambda c: c.messages_read == 1)

    second = Delivery.objects.get(subscriber=FRAGILE, sequence=2)
    assert (second.status, second.attempts) == ("pending", 0)
    assert effects(FRAGILE) == []

    call_command("dead_letters", "retry", "--subscriber", FRAGILE)
    Relay().drain()
    assert effects(FRAGILE) == [1, 2]
