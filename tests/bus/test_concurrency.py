"""The bus under real concurrency: relays in their own processes, killed and side by side."""

import signal
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db import OperationalError, close_old_connections, connection, transaction
from django.db.models import Count

from ecommerce.bus import publish
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.relay import NOTIFY_CHANNEL, Relay
from tests.bus.support.events import Deposited, ThingHappened
from tests.bus.support.models import Balance, Effect
from tests.postgres import a_backend_waits_for_a_lock
from tests.processes import spawn_manage, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def publish_batches(
    count: int, *, sleep_ms: int = 0, things: int | None = None, slow: dict[int, int] | None = None
) -> None:
    """Publish ``count`` ThingHappened events; ``slow`` maps event numbers to handler sleeps."""
    ids = [uuid4() for _ in range(things or count)]
    slow = slow or {}
    for start in range(0, count, 200):
        with transaction.atomic():
            for i in range(start, min(start + 200, count)):
                publish(
                    ThingHappened(thing_id=ids[i % len(ids)], n=i, sleep_ms=slow.get(i, sleep_ms))
                )


def assert_each_effect_exactly_once(events: int) -> None:
    per_event = (
        Effect.objects.values("subscriber", "event_id").annotate(n=Count("id")).filter(n__gt=1)
    )
    assert list(per_event) == []
    assert Effect.objects.filter(subscriber="bus_support.record").count() == events
    assert Effect.objects.filter(subscriber="bus_support.fragile").count() == events
    assert not Delivery.objects.exclude(status="delivered").exists()


def test_a_relay_killed_mid_batch_loses_and_doubles_nothing(deferred_bus: None) -> None:
    events = 300
    publish_batches(events, sleep_ms=1, slow={150: 2000})
    slow_delivery = Delivery.objects.filter(subscriber="bus_support.record", event__payload__n=150)

    first = spawn_manage("relay_events", "--batch-size", "50", BUS_LEASE_SECONDS="2")
    # Kill it while its handler sleeps on event 150: in the middle of a batch.
    assert wait_until(lambda: slow_delivery.filter(lease_token__isnull=False).exists(), timeout=30)
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    leased = Delivery.objects.filter(status="pending", lease_token__isnull=False).count()
    assert 0 < leased <= 50  # the batch in hand: claimed, then rolled back with the process
    assert Effect.objects.count() < 2 * events

    second = spawn_manage("relay_events", "--once", BUS_LEASE_SECONDS="2")
    time.sleep(2.1)  # let the dead relay's lease run out before the second one drains
    assert second.wait(timeout=120) == 0
    if Delivery.objects.exclude(status="delivered").exists():
        assert spawn_manage("relay_events", "--once").wait(timeout=120) == 0

    assert_each_effect_exactly_once(events)


def test_two_relays_side_by_side_handle_every_delivery_once(deferred_bus: None) -> None:
    events = 1500
    publish_batches(events, things=300)

    relays = [spawn_manage("relay_events", "--batch-size", "25") for _ in range(2)]
    try:
        assert wait_until(
            lambda: not Delivery.objects.exclude(status="delivered").exists(), timeout=120
        )
    finally:
        for relay in relays:
            relay.send_signal(signal.SIGTERM)
        codes = [relay.wait(timeout=30) for relay in relays]

    assert codes == [0, 0]
    assert_each_effect_exactly_once(events)
    assert Effect.objects.values("pid").distinct().count() == 2  # both relays did work


def listening_connections() -> int:
    """Connections to this database whose last statement was the relays' LISTEN."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = %s",
            [f"LISTEN {NOTIFY_CHANNEL}"],
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_a_relay_wakes_on_notify_right_after_commit(deferred_bus: None) -> None:
    before = listening_connections()
    relay = spawn_manage("relay_events", "--poll", "30")  # backstop poll far away
    try:
        # Up and listening (its first drain found nothing): from here only NOTIFY wakes it.
        assert wait_until(lambda: listening_connections() > before, timeout=30)
        started = time.monotonic()
        publish_batches(1)
        assert wait_until(lambda: Effect.objects.count() == 2, timeout=5, interval=0.01)
        assert time.monotonic() - started < 1.0
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=30) == 0


def test_one_aggregates_events_from_concurrent_transactions_arrive_in_commit_order(
    deferred_bus: None,
) -> None:
    thing = uuid4()
    first_published = threading.Event()
    timings: dict[str, float] = {}

    def first() -> None:
        with transaction.atomic():
            publish(ThingHappened(thing_id=thing, n=1))
            first_published.set()
            time.sleep(0.4)  # still open: the second transaction must wait for this commit
        timings["first_committed"] = time.monotonic()
        close_old_connections()
        connection.close()

    def second() -> None:
        first_published.wait()
        with transaction.atomic():
            publish(ThingHappened(thing_id=thing, n=2))
        timings["second_committed"] = time.monotonic()
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Relay().drain()

    assert timings["first_committed"] <= timings["second_committed"]
    record = Effect.objects.filter(subscriber="bus_support.record").order_by("id")
    assert list(record.values_list("n", flat=True)) == [1, 2]


def test_a_storm_of_concurrent_publishers_keeps_every_aggregate_in_order(
    deferred_bus: None,
) -> None:
    things = [uuid4() for _ in range(3)]
    relay_stop = threading.Event()

    def publisher(worker: int) -> None:
        for i in range(15):
            with transaction.atomic():
                publish(ThingHappened(thing_id=things[i % 3], n=worker * 100 + i))
                time.sleep(0.002 * ((worker + i) % 3))
        connection.close()

    def relay_loop() -> None:
        relay = Relay(batch_size=10)
        while not relay_stop.is_set():
            relay.drain()
        connection.close()

    relay_thread = threading.Thread(target=relay_loop)
    relay_thread.start()
    workers = [threading.Thread(target=publisher, args=(w,)) for w in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    relay_stop.set()
    relay_thread.join()
    Relay().drain()

    for thing in things:
        arrived = list(
            Effect.objects.filter(subscriber="bus_support.record", aggregate_id=str(thing))
            .order_by("id")
            .values_list("event_id", flat=True)
        )
        by_sequence = list(
            Delivery.objects.filter(subscriber="bus_support.record", aggregate_id=str(thing))
            .order_by("sequence")
            .values_list("event__event_id", flat=True)
        )
        assert arrived == by_sequence
        assert len(arrived) == 30
        # Within one publisher, commit order is its loop order.
        ns = list(
            Effect.objects.filter(subscriber="bus_support.record", aggregate_id=str(thing))
            .order_by("id")
            .values_list("n", flat=True)
        )
        for worker in range(6):
            mine = [n for n in ns if n // 100 == worker]
            assert mine == sorted(mine)


def test_a_shared_delivery_transaction_gives_way_to_a_use_case_instead_of_deadlocking(
    deferred_bus: None,
) -> None:
    """The relay delivers two deposits in one transaction: the first handler locks account
    A, the second wants B. A use case holds B and then asks for A, the opposite order. The
    relay must give way at once, not wait for PostgreSQL's deadlock detector (1 s) to pick a
    victim, which could be the use case."""
    a, b = two_accounts()
    with transaction.atomic():
        publish(Deposited(account_id=a, amount=Decimal("5")))
        publish(Deposited(account_id=b, amount=Decimal("7")))

    # The use case asks for A once the relay, holding A, is blocked on B.
    outcome = cross_with_the_relay(a, b, ask_for_a_when=a_backend_waits_for_a_lock)

    assert "error" not in outcome
    assert outcome["waited_for_a"] < 0.5  # the relay let go long before the 1 s detector
    assert_deposits_applied_once(a, b)


def test_a_slow_shared_transaction_commits_before_a_waiting_use_case_could_be_a_victim(
    deferred_bus: None,
) -> None:
    """As above, with about a second of handlers between locking A and asking for B. Had the
    relay held A all that time, the use case's own deadlock check (after deadlock_timeout, 1
    s) would run while the relay waits for B, and pick the use case."""
    a, b = two_accounts()
    with transaction.atomic():
        publish(Deposited(account_id=a, amount=Decimal("5")))
        publish(ThingHappened(thing_id=uuid4(), sleep_ms=985))
        publish(Deposited(account_id=b, amount=Decimal("7")))

    # The use case asks for A as soon as the relay holds it.
    outcome = cross_with_the_relay(a, b, ask_for_a_when=lambda: a_is_locked_elsewhere(a))

    assert "error" not in outcome, outcome.get("error")
    assert_deposits_applied_once(a, b)


def two_accounts() -> tuple[UUID, UUID]:
    a, b = uuid4(), uuid4()
    Balance.objects.bulk_create(
        [Balance(account_id=x, total=Decimal("0"), deposits=0) for x in (a, b)]
    )
    return a, b


def cross_with_the_relay(a: UUID, b: UUID, *, ask_for_a_when: Callable[[], bool]) -> dict[str, Any]:
    """A use case locks B, waits for ``ask_for_a_when()``, then locks A, while a relay drains
    in another thread. Returns how long it waited for A, or the error it met."""
    holds_b = threading.Event()
    outcome: dict[str, Any] = {}

    def use_case() -> None:
        try:
            with transaction.atomic():
                Balance.objects.select_for_update().get(account_id=b)
                holds_b.set()
                wait_until(ask_for_a_when, timeout=10, interval=0.002)
                asked = time.monotonic()
                Balance.objects.select_for_update().get(account_id=a)
                outcome["waited_for_a"] = time.monotonic() - asked
        except Exception as exc:  # a deadlock victim: what must never happen
            outcome["error"] = exc
        finally:
            connection.close()

    def relay() -> None:
        holds_b.wait()
        Relay().drain()
        connection.close()

    threads = [threading.Thread(target=use_case), threading.Thread(target=relay)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def assert_deposits_applied_once(a: UUID, b: UUID) -> None:
    balances = {x.account_id: (x.total, x.deposits) for x in Balance.objects.all()}
    assert balances == {a: (Decimal("5"), 1), b: (Decimal("7"), 1)}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


class _Probed(Exception):
    pass


def a_is_locked_elsewhere(account_id: object) -> bool:
    """Whether another transaction holds the account's row (tried without waiting)."""
    try:
        with transaction.atomic():
            Balance.objects.select_for_update(nowait=True).get(account_id=account_id)
            raise _Probed  # not locked elsewhere: undo the probe's own lock
    except _Probed:
        return False
    except OperationalError:
        return True


def test_the_relays_are_woken_only_for_events_someone_subscribes_to(deferred_bus: None) -> None:
    import psycopg

    from tests.bus.support.events import NobodyListens
    from tests.processes import test_database_url

    with psycopg.connect(test_database_url(), autocommit=True) as listener:
        listener.execute("LISTEN bus_events")

        with transaction.atomic():
            publish(NobodyListens(thing_id=uuid4()))
        unheard = list(listener.notifies(timeout=0.5))
        with transaction.atomic():
            publish(ThingHappened(thing_id=uuid4()))
        heard = list(listener.notifies(timeout=2, stop_after=1))

    assert unheard == []
    assert len(heard) == 1
    assert OutboxEvent.objects.filter(event_type="bus_support.NobodyListens").count() == 1
