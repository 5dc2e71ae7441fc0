"""The bus's settings, with their defaults. Each may be set in Django settings."""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

INPROCESS, KAFKA = "inprocess", "kafka"
TRANSPORTS = (INPROCESS, KAFKA)

# With the kafka transport, publish() writes one delivery per event for this reserved
# subscriber instead of one per local subscriber; the relay hands it to the Kafka producer.
KAFKA_PRODUCER = "kafka.producer"


@dataclass(frozen=True, slots=True)
class BusSettings:
    eager: bool
    max_attempts: int
    backoff_base: float
    backoff_max: float
    lease_seconds: float
    batch_size: int
    per_transaction: int
    poll_seconds: float
    retention_days: int


def bus_settings() -> BusSettings:
    return BusSettings(
        eager=getattr(settings, "BUS_EAGER", False),
        max_attempts=getattr(settings, "BUS_MAX_ATTEMPTS", 10),
        backoff_base=getattr(settings, "BUS_BACKOFF_BASE_SECONDS", 1.0),
        backoff_max=getattr(settings, "BUS_BACKOFF_MAX_SECONDS", 600.0),
        lease_seconds=getattr(settings, "BUS_LEASE_SECONDS", 30.0),
        batch_size=getattr(settings, "BUS_BATCH_SIZE", 100),
        per_transaction=getattr(settings, "BUS_DELIVERIES_PER_TRANSACTION", 20),
        poll_seconds=getattr(settings, "BUS_POLL_SECONDS", 1.0),
        retention_days=getattr(settings, "EVENT_RETENTION_DAYS", 30),
    )


def transport() -> str:
    """``inprocess`` (the default) or ``kafka``."""
    name: str = getattr(settings, "EVENT_TRANSPORT", INPROCESS)
    if name not in TRANSPORTS:
        raise ImproperlyConfigured(
            f"EVENT_TRANSPORT is {name!r}; it must be one of {', '.join(TRANSPORTS)}"
        )
    return name


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: str
    topic_prefix: str
    producer_config: dict[str, Any] = field(default_factory=dict)
    consumer_config: dict[str, Any] = field(default_factory=dict)

    def topic(self, aggregate_type: str) -> str:
        """One topic per aggregate type: every event about one cart is on ``shop.cart``."""
        return f"{self.topic_prefix}{aggregate_type}"


def kafka_settings() -> KafkaSettings:
    bootstrap: str = getattr(settings, "KAFKA_BOOTSTRAP_SERVERS", "")
    if not bootstrap:
        raise ImproperlyConfigured("the kafka transport needs KAFKA_BOOTSTRAP_SERVERS")
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        topic_prefix=getattr(settings, "KAFKA_TOPIC_PREFIX", "shop."),
        producer_config=dict(getattr(settings, "KAFKA_PRODUCER_CONFIG", {})),
        consumer_config=dict(getattr(settings, "KAFKA_CONSUMER_CONFIG", {})),
    )
