"""The relay's side of the kafka transport: produce claimed deliveries, mark the acknowledged.

The relay claims ``kafka.producer`` deliveries like any other (due, leased, only the head of
each aggregate), and hands the batch here instead of to a handler. Each event is produced to
its topic; the batch is flushed, and a delivery is marked delivered only once the broker has
acknowledged its message (``acks=all``). A message that failed or was not acknowledged in
time goes through the relay's retry path: backoff, then a dead letter after
``BUS_MAX_ATTEMPTS``. The event stays in the outbox either way, so nothing is lost.

The producer is idempotent, so its own retries never duplicate or reorder a message. The
relay's retries can duplicate one (a message acknowledged after we stopped waiting is sent
again); consumers drop the copy by its delivery row. Order per key holds because the relay
produces an aggregate's next event only after the previous one was acknowledged.
"""

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from django.utils import timezone

from ecommerce.bus.conf import KafkaSettings, bus_settings, kafka_settings
from ecommerce.bus.kafka.wire import message_for
from ecommerce.bus.models import Delivery, OutboxEvent

if TYPE_CHECKING:
    from ecommerce.bus.relay import Claimed, Relay

logger = logging.getLogger(__name__)

_producers: dict[str, Producer] = {}
_producers_lock = threading.Lock()


def producer_config(kafka: KafkaSettings) -> dict[str, Any]:
    lease = bus_settings().lease_seconds
    return {
        # Give up on a message well inside the relay's lease, so no other relay takes the
        # delivery while this one still waits for it (KAFKA_PRODUCER_CONFIG may change it).
        "message.timeout.ms": int(lease * 1000 / 2),
        "linger.ms": 5,
        **kafka.producer_config,
        "bootstrap.servers": kafka.bootstrap_servers,
        # Not overridable: these are what "delivered" means.
        "enable.idempotence": True,
        "acks": "all",
    }


def get_producer(kafka: KafkaSettings) -> Producer:
    """One producer per process and configuration (creating one costs a broker handshake)."""
    config = producer_config(kafka)
    key = json.dumps(config, sort_keys=True, default=str)
    with _producers_lock:
        if key not in _producers:
            _producers[key] = Producer(config)
        return _producers[key]


def drop_producers() -> None:
    """Forget the cached producers (after a fatal producer error, and between tests)."""
    with _producers_lock:
        producers = list(_producers.values())
        _producers.clear()
    for producer in producers:
        producer.flush(0)


def forward(relay: "Relay", claimed: list["Claimed"], events: dict[int, OutboxEvent]) -> None:
    """Produce the claimed deliveries' events; mark delivered what the broker acknowledged."""
    for item in [c for c in claimed if c.attempts > relay.max_attempts]:
        relay._failed(
            item, f"gave up after {item.attempts - 1} attempts without an outcome", dead=True
        )
    claimed = [c for c in claimed if c.attempts <= relay.max_attempts]
    if not claimed:
        return
    try:
        kafka = kafka_settings()
        producer = get_producer(kafka)
    except Exception as exc:
        reason = f"kafka producer unavailable: {exc}"
        _record_failures(relay, claimed, dict.fromkeys((c.id for c in claimed), reason))
        return

    outcomes: dict[int, KafkaError | None] = {}

    def reporter(delivery_id: int) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            outcomes[delivery_id] = error

        return report

    errors: dict[int, str] = {}
    for item in claimed:
        message = message_for(events[item.event_pk], kafka)
        try:
            producer.produce(
                message.topic,
                key=message.key,
                value=message.value,
                headers=message.headers,
                on_delivery=reporter(item.id),
            )
        except (BufferError, KafkaException) as exc:
            errors[item.id] = f"kafka: could not queue the message: {exc}"
    unacknowledged = producer.flush(relay.lease.total_seconds() * 0.75)
    if unacknowledged:
        # Drop what never left; those deliveries are retried after their backoff.
        producer.purge(in_queue=True, in_flight=False)
        producer.poll(0)

    acknowledged = [c.id for c in claimed if c.id in outcomes and outcomes[c.id] is None]
    if acknowledged:
        Delivery.objects.filter(
            pk__in=acknowledged, status=Delivery.Status.PENDING, lease_token=claimed[0].lease_token
        ).update(
            status=Delivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            leased_until=None,
            lease_token=None,
        )
    for item in claimed:
        error = outcomes.get(item.id)
        if item.id in errors:
            continue
        if item.id not in outcomes:
            errors[item.id] = "kafka: not acknowledged by the broker in time"
        elif error is not None:
            errors[item.id] = f"kafka: {error.str()} ({error.name()})"
            if error.fatal():
                drop_producers()
    _record_failures(relay, [c for c in claimed if c.id in errors], errors)


def _record_failures(relay: "Relay", claimed: list["Claimed"], errors: dict[int, str]) -> None:
    for item in claimed:
        dead = item.attempts >= relay.max_attempts
        logger.warning(
            "producing event %s to kafka failed (attempt %d): %s",
            item.event_pk,
            item.attempts,
            errors[item.id],
        )
        relay._failed(item, errors[item.id], dead=dead)
