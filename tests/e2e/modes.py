"""How the end-to-end scenarios run the shop: as one process, or as services apart.

- ``monolith``: every service call in-process, events delivered in-process right after commit.
- ``split-http``: products and inventory answer over HTTP (a live server running this project
  on the test database), events in-process. Runs on SQLite too.
- ``split``: products and inventory over HTTP, and every event through Kafka (librdkafka's
  mock cluster): a relay thread produces the outbox to the topics and each app's subscribers
  run in a consumer thread of their own (``consume_events --app <label>``), each with its own
  database connection, as separate processes would. PostgreSQL only: on SQLite the threads
  would share one in-memory database through table locks.

What the test thread does plays the storefront's requests to the cart's web process (the cart,
payments and notifications APIs); each consumer thread plays its app's consumer process.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import uuid4

from confluent_kafka import Producer
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from ecommerce.bus.conf import kafka_settings
from ecommerce.bus.events import event_class
from ecommerce.bus.kafka.consumer import AppConsumer
from ecommerce.bus.kafka.producer import drop_producers
from ecommerce.bus.registry import subscriptions
from ecommerce.bus.relay import Relay
from tests.processes import wait_until

MONOLITH, SPLIT_HTTP, SPLIT = "monolith", "split-http", "split"
APART = ("products", "inventory")  # the apps a call crosses a process boundary to
# The next generation group protocol (KIP-848): the mock cluster assigns partitions at once.
FAST_GROUPS = {"group.protocol": "consumer"}
SETTLE_SECONDS = 20.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Shop:
    mode: str

    def settle(self, outcome: Callable[[], bool]) -> None:
        """Wait until ``outcome()`` holds. In-process events are delivered when the request
        returns, so it holds at once or never; through Kafka it takes a moment."""
        timeout = SETTLE_SECONDS if self.mode == SPLIT else 0
        assert wait_until(outcome, timeout=timeout, interval=POLL_SECONDS), "did not settle"


@contextmanager
def events_through_kafka(settings: SettingsWrapper, bootstrap_servers: str) -> Iterator[None]:
    """The kafka transport on the given cluster with topics of this test's own, a relay thread
    and one consumer thread per app with subscribers."""
    settings.BUS_EAGER = False
    settings.EVENT_TRANSPORT = "kafka"
    settings.KAFKA_BOOTSTRAP_SERVERS = bootstrap_servers
    settings.KAFKA_TOPIC_PREFIX = f"e2e-{uuid4().hex[:8]}."
    settings.KAFKA_PRODUCER_CONFIG = {"log_level": 4}
    settings.KAFKA_CONSUMER_CONFIG = {**FAST_GROUPS, "log_level": 4}
    apps = sorted({s.name.partition(".")[0] for s in subscriptions()} - {"bus_support"})
    _create_topics(bootstrap_servers)
    stop = threading.Event()
    workers = [
        threading.Thread(target=_relay, args=(stop,), name="relay"),
        *(
            threading.Thread(target=_consumer, args=(app, stop), name=f"consume-{app}")
            for app in apps
        ),
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        drop_producers()


def _relay(stop: threading.Event) -> None:
    try:
        Relay().run_forever(poll_seconds=POLL_SECONDS, stop=stop)
    finally:
        connection.close()


def _consumer(app: str, stop: threading.Event) -> None:
    try:
        AppConsumer(app).run(should_stop=stop.is_set, poll_seconds=POLL_SECONDS)
    finally:
        connection.close()


def _create_topics(bootstrap_servers: str) -> None:
    """Every topic a consumer reads, before it subscribes, as a deployment has them: with the
    next generation group protocol the mock cluster does not assign a topic created later. (It
    has no CreateTopics; asking for a topic's metadata creates it.)"""
    kafka = kafka_settings()
    producer = Producer({"bootstrap.servers": bootstrap_servers, "log_level": 4})
    for event_type in {s.event_type for s in subscriptions()}:
        producer.list_topics(topic=kafka.topic(event_class(event_type).aggregate_type), timeout=10)
