"""librdkafka's mock cluster, started by the tests themselves: the real Kafka protocol and the
real client, on 127.0.0.1, without Docker or an outside broker."""

import socket
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient


class MockCluster:
    """A cluster of ``brokers`` mock brokers; it lives as long as this object's client."""

    def __init__(self, brokers: int = 3) -> None:
        self._owner = AdminClient({"test.mock.num.brokers": brokers, "log_level": 4})
        metadata = self._owner.list_topics(timeout=10)
        self.bootstrap_servers = ",".join(
            f"{b.host}:{b.port}" for b in sorted(metadata.brokers.values(), key=lambda b: b.id)
        )


def read_topic(bootstrap_servers: str, topic: str, *, expect: int) -> list[Message]:
    """Every message on ``topic`` (waiting for at least ``expect``), read without a group."""
    reader = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": "test-reader", "log_level": 4}
    )
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[Message] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = [m for m in reader.consume(100, timeout=0.2) if m.error() is None]
            messages.extend(batch)
            if len(messages) >= expect and not batch:
                break
        return messages
    finally:
        reader.close()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def headers(message: Message) -> dict[str, str]:
    return {name: value.decode() for name, value in message.headers() or [] if value is not None}
