"""The relay: claims due deliveries, runs each subscriber's handler, records the outcome.

One pass (``Relay.run_once``) is:

1. **Claim**, in a short transaction of its own: pick due pending deliveries whose aggregate
   has no earlier undelivered event for the same subscriber, lock them with ``FOR UPDATE SKIP
   LOCKED`` (so relays side by side never take the same row) and lease them. A relay that
   dies leaves a lease that simply runs out.
2. **Deliver** the fresh ones (never tried: ``attempts = 0``), a few per short transaction
   (``BUS_DELIVERIES_PER_TRANSACTION``): mark them done (only where our lease still holds),
   run their handlers, commit. The handlers' writes and the "delivered" marks commit
   together, so an effect happens exactly once. If anything in that transaction fails, it
   rolls back and each of its deliveries is delivered again in a transaction of its own, so
   only a failing delivery is rescheduled, with exponential backoff and jitter, or marked
   dead after the last attempt.
3. **Deliver the ones tried before alone**, last: each one's attempt is counted and
   committed first, then it runs in a transaction of its own.

Why attempts are counted this way: a handler can kill the relay process (out of memory, a
segfault, a watchdog), and then nothing it was doing gets an outcome. If the claim counted
an attempt for every delivery in the batch, the next relay would claim the same batch, die
at the same place, and after ``BUS_MAX_ATTEMPTS`` rounds every delivery of the batch (other
subscribers, other aggregates, whose handlers never ran) would be dead. So the claim counts
the attempt only for fresh deliveries, which the fast path tries together: a relay dying
there costs each of them one attempt, once. From then on they have ``attempts > 0`` and are
tried alone, each charged (durably, before it runs) for its own try only: the delivery that
kills the relay runs up its attempts across restarts and goes dead after the last one, while
the others are delivered, the least tried first, so they go before the one that keeps
failing. (The sign is ``attempts``, not the lease left behind: the housekeeping task clears
leases that ran out.) Deliveries being retried after a plain failure take the same path,
which costs them one more commit each. Kafka's producer deliveries are always counted at
claim: the producer runs no handler and hands its deliveries to the broker together.

Holding several handlers' row locks in one transaction could deadlock with a use case that
takes the same rows in its own order (a checkout holding a cart and waiting for the stock
row a handler locked earlier in the transaction). So a shared transaction never waits long
for a lock: on PostgreSQL it sets a short ``lock_timeout``, and a lock it cannot get at once
sends its deliveries down the one-by-one path, which waits as long as it takes while holding
only that handler's locks. And it stays short: once its handlers have run for
``SHARED_TRANSACTION_SECONDS`` it commits what it has and the rest go into the next one, so
a use case never waits on it long enough for PostgreSQL's deadlock check (after
``deadlock_timeout``, 1 s) to run in the use case and pick it as the victim.
"""

import contextlib
import logging
import signal
import threading
import time
import traceback
from dataclasses import dataclass, replace
from datetime import timedelta
from types import FrameType
from typing import Any
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ecommerce.bus import codec
from ecommerce.bus.conf import KAFKA_PRODUCER, bus_settings
from ecommerce.bus.db import fetch_all, lease_token_value
from ecommerce.bus.events import Event, event_class
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.publishing import handling
from ecommerce.bus.registry import Handler, subscription
from ecommerce.common import retry
from ecommerce.common.db import all_or_nothing

logger = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = Delivery.Status.PENDING, Delivery.Status.DELIVERED, Delivery.Status.DEAD
NOTIFY_CHANNEL = "bus_events"

# A delivery tried before (attempts > 0, see the module docstring) is leased under a token of
# its own, which says "deliver me alone" in the rows returned, and its attempt is not counted
# here but just before it runs.
_CLAIM_SQL = """
    UPDATE bus_delivery
       SET leased_until = %(lease_until)s,
           lease_token = CASE WHEN attempts > 0 AND subscriber <> %(producer)s
                              THEN %(alone_token)s ELSE %(token)s END,
           attempts = CASE WHEN attempts > 0 AND subscriber <> %(producer)s
                           THEN attempts ELSE attempts + 1 END
     WHERE id IN (
        SELECT d.id FROM bus_delivery d
         WHERE d.status = 'pending'
           AND d.next_attempt_at <= %(now)s
           AND (d.leased_until IS NULL OR d.leased_until < %(now)s)
           {only_event}
           AND NOT EXISTS (
               SELECT 1 FROM bus_delivery p
                WHERE p.subscriber = d.subscriber
                  AND p.aggregate_type = d.aggregate_type
                  AND p.aggregate_id = d.aggregate_id
                  AND p.sequence < d.sequence
                  AND p.status IN ('pending', 'dead'))
         ORDER BY d.next_attempt_at, d.id
         LIMIT %(limit)s
         {lock}
     )
    RETURNING id, event_id, subscriber, attempts, lease_token
"""


# Hand-written statements: the relay runs one per delivery, and building it with the ORM each
# time cost more than running it. On PostgreSQL the same statement also lets the delivery's
# transaction commit without waiting for the disk (see _deliver_one), saving a round trip.
_MARK_DELIVERED_SQL = """
    UPDATE bus_delivery
       SET status = 'delivered', delivered_at = %(now)s, leased_until = NULL, lease_token = NULL
     WHERE id = %(id)s AND status = 'pending' AND lease_token = %(token)s
"""
_MARK_DELIVERED_SQL_POSTGRES = (
    _MARK_DELIVERED_SQL.rstrip()
    + """
       AND set_config('synchronous_commit', 'off', true) IS NOT NULL
"""
)
# The same for several deliveries sharing a transaction, which also stops that transaction
# from waiting long for a row lock (see the module's docstring). Our lease token alone says
# the delivery is still pending and ours (every way out of pending clears the token); with
# "status = 'pending'" as well, the planner ANDs the primary key with the due index, whose
# dead entries after a burst make that several times slower.
_MARK_SHARED_SQL_POSTGRES = """
    UPDATE bus_delivery
       SET status = 'delivered', delivered_at = %(now)s, leased_until = NULL, lease_token = NULL
     WHERE id = ANY(%(ids)s) AND lease_token = %(token)s
       AND set_config('synchronous_commit', 'off', true) IS NOT NULL
       AND set_config('lock_timeout', %(lock_timeout)s, true) IS NOT NULL
"""
# Deliveries handed back to the next transaction when a shared one ends early: still ours,
# with a fresh lease.
_UNMARK_SHARED_SQL = """
    UPDATE bus_delivery
       SET status = 'pending', delivered_at = NULL, leased_until = %s, lease_token = %s
     WHERE id IN ({ids}) AND status = 'delivered' AND lease_token IS NULL
"""
# Longest a shared transaction waits for a row lock before its deliveries go one by one, and
# how long its handlers may run before it commits what it has. Both far below PostgreSQL's
# deadlock_timeout (1 s), so a use case waiting on the relay is never the one picked to fail.
SHARED_LOCK_TIMEOUT = "50ms"
SHARED_TRANSACTION_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    event_pk: int
    subscriber: str
    attempts: int
    lease_token: UUID
    # Tried before: its attempt is counted (and committed) just before it runs, alone.
    alone: bool = False


class Undeliverable(Exception):
    """The delivery can never succeed as stored: its payload no longer decodes."""


class HandlerSpoiledTransaction(Exception):
    """A handler returned although its transaction can only roll back.

    Use cases join the caller's transaction without a savepoint (docs/SERVICES.md), so one
    that raised marks the whole transaction for rollback. A handler that caught the error and
    returned would otherwise have its delivery silently undone, and delivered again for ever.
    """


def _run(handler: Handler, event: Event) -> None:
    with handling(event):
        handler(event)
    if connection.needs_rollback:
        raise HandlerSpoiledTransaction(
            "the handler caught an error raised inside its transaction and returned; catch it "
            "around a transaction.atomic() block of its own"
        )


class _OneByOne(Exception):
    """A shared transaction cannot be completed; its deliveries go one by one."""


def backoff_seconds(attempts: int) -> float:
    conf = bus_settings()
    return retry.backoff_seconds(attempts, base=conf.backoff_base, cap=conf.backoff_max)


def describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc, limit=-4))
    return text[-4000:]


class Relay:
    def __init__(self, *, batch_size: int | None = None) -> None:
        conf = bus_settings()
        self.batch_size = batch_size or conf.batch_size
        self.per_transaction = max(1, conf.per_transaction)
        self.lease = timedelta(seconds=conf.lease_seconds)
        self.max_attempts = conf.max_attempts
        # A batch the database failed under and that could not be handed back yet: its
        # deliveries, the error, and when (monotonic) its leases have run out anyway.
        self._owed_back: tuple[list[Claimed], str, float] | None = None

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self, *, event_pk: int | None = None) -> int:
        """Claim and deliver one batch. Returns how many deliveries were attempted."""
        self._hand_back_owed()  # raises while the database is still away
        claimed = self.claim(event_pk=event_pk)
        if claimed:
            try:
                self.deliver(claimed)
            except Exception as exc:
                if retry.is_transient_database_error(exc) and not connection.in_atomic_block:
                    # Kept until handed back, or until its leases have run out anyway.
                    until = time.monotonic() + self.lease.total_seconds()
                    self._owed_back = (claimed, describe(exc), until)
                    try:
                        self._hand_back_owed()
                    except Exception as failure:
                        logger.warning(
                            "relay could not hand back its deliveries yet; it tries again on "
                            "its next pass, or their leases run out: %s",
                            failure,
                        )
                        connection.close()
                raise
        return len(claimed)

    def _hand_back_owed(self) -> None:
        """Hand back the batch a pass the database failed under left (``_hand_back``). Kept
        while the database is still away; dropped once its leases have run out (any relay
        takes those deliveries then) or on an error trying again cannot mend."""
        if self._owed_back is None:
            return
        claimed, error, until = self._owed_back
        if time.monotonic() >= until:
            self._owed_back = None
            return
        try:
            self._hand_back(claimed, error)
        except Exception as exc:
            if not retry.is_transient_database_error(exc):
                self._owed_back = None
            raise
        self._owed_back = None

    def _hand_back(self, claimed: list[Claimed], error: str) -> None:
        """The database failed under the pass (a connection cut, a failover): what it holds
        and did not deliver is due again after the backoff of a failed try (half a second
        to a second at first), on a new connection, rather than when the lease runs out
        (``BUS_LEASE_SECONDS``). Each try stays counted and each wait grows as for a failing
        handler, so a database failing pass after pass spends attempts no faster than that.
        While the database is still away (a server restarting) this raises, and the relay's
        next pass tries again first (``_hand_back_owed``); a relay that stops meanwhile, or
        an eager delivery's, leaves the leases to run out. A lease that ran out and was taken
        by another relay is not touched."""
        connection.close()
        now = timezone.now()
        handed_back = 0
        by_attempts: dict[int, list[Claimed]] = {}
        for item in claimed:
            by_attempts.setdefault(item.attempts, []).append(item)
        for attempts, items in by_attempts.items():
            handed_back += Delivery.objects.filter(
                pk__in=[item.id for item in items],
                status=PENDING,
                lease_token__in={item.lease_token for item in items},
            ).update(
                leased_until=None,
                lease_token=None,
                last_error=error,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)),
            )
        logger.warning("relay pass met a database error; %d deliveries handed back", handed_back)

    def drain(self, *, should_stop: threading.Event | None = None) -> int:
        """Run passes until nothing is due. Returns the deliveries attempted."""
        total = 0
        while not (should_stop and should_stop.is_set()):
            count = self.run_once()
            total += count
            if count == 0:
                break
        return total

    def claim(self, *, event_pk: int | None = None) -> list[Claimed]:
        now = timezone.now()
        token, alone_token = uuid4(), uuid4()
        ops = connection.ops
        sql = _CLAIM_SQL.format(
            only_event="AND d.event_id = %(event_pk)s" if event_pk is not None else "",
            lock="FOR UPDATE SKIP LOCKED"
            if connection.features.has_select_for_update_skip_locked
            else "",
        )
        params: dict[str, Any] = {
            "now": ops.adapt_datetimefield_value(now),
            "lease_until": ops.adapt_datetimefield_value(now + self.lease),
            "token": lease_token_value(token),
            "alone_token": lease_token_value(alone_token),
            "producer": KAFKA_PRODUCER,
            "limit": self.batch_size,
            "event_pk": event_pk,
        }
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # Walk the due index in order and stop at the limit. Right after a burst
                    # the table's statistics are stale, and the planner would otherwise
                    # collect and sort every pending row on each claim.
                    cursor.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
            rows = fetch_all(sql, params)
        claimed = []
        for pk, event_pk, subscriber, attempts, leased_as in rows:
            alone = leased_as == params["alone_token"]
            claimed.append(
                Claimed(
                    id=pk,
                    event_pk=event_pk,
                    subscriber=subscriber,
                    attempts=attempts,
                    lease_token=alone_token if alone else token,
                    alone=alone,
                )
            )
        return sorted(claimed, key=lambda c: c.id)

    def deliver(self, claimed: list[Claimed], events: dict[int, OutboxEvent] | None = None) -> None:
        """Deliver the claimed deliveries, a few per transaction (see the module docstring).
        ``events``: their event rows by primary key, when the caller has them already."""
        if events is None:
            wanted = {c.event_pk for c in claimed}
            events = {e.pk: e for e in OutboxEvent.objects.filter(pk__in=wanted)}
        outgoing = [c for c in claimed if c.subscriber == KAFKA_PRODUCER]
        if outgoing:
            # The kafka transport: these deliveries go to the broker, not to a handler.
            from ecommerce.bus.kafka.producer import forward

            forward(self, outgoing, events)
        local = [c for c in claimed if c.subscriber != KAFKA_PRODUCER and not c.alone]
        decoded: dict[int, Event] = {}  # each event decoded once for all its subscribers
        while local:
            chunk = local[: self.per_transaction]
            done = self._deliver_shared(chunk, events, decoded) if len(chunk) > 1 else 0
            if not done:
                for item in chunk:
                    self._deliver_one(item, events[item.event_pk], decoded)
                done = len(chunk)
            local = local[done:]
        # Last, so that a delivery that kills the relay does not take the fresh ones with it;
        # the least tried first, so that one goes after those it held up.
        for item in sorted((c for c in claimed if c.alone), key=lambda c: (c.attempts, c.id)):
            self._deliver_alone(item, events[item.event_pk], decoded)

    # -- several deliveries in one transaction --------------------------------------------------

    def _deliver_shared(
        self, chunk: list[Claimed], events: dict[int, OutboxEvent], decoded: dict[int, Event]
    ) -> int:
        """Deliver the start of ``chunk`` in one transaction; how many it delivered (0: the
        transaction rolled back and nothing happened)."""
        started = time.monotonic()
        committed = False

        def note_commit() -> None:
            nonlocal committed
            committed = True

        done = 0
        try:
            with all_or_nothing():
                if self._mark_shared(chunk) != len(chunk):
                    raise _OneByOne("a lease ran out")
                # First in line of the after-commit callbacks: says the commit happened even
                # if a handler's callback then raises.
                transaction.on_commit(note_commit)
                for item in chunk:
                    _run(*self._resolve(item, events[item.event_pk], decoded))
                    done += 1
                    if (
                        done < len(chunk)
                        and time.monotonic() - started > SHARED_TRANSACTION_SECONDS
                    ):
                        self._unmark_shared(chunk[done:])
                        break
        except Exception as exc:
            if committed:
                # Delivered; what raised was a handler's after-commit callback (a task that
                # could not be queued). Recovery of that work is the handler's business.
                logger.error("an after-commit callback of a delivered batch failed: %s", exc)
                return done
            # Whatever it was (a failing handler, a lock not granted at once, a lost lease),
            # the one-by-one path sorts it out delivery by delivery.
            logger.debug("shared delivery of %d rolled back: %s", len(chunk), exc)
            return 0
        return done

    def _unmark_shared(self, rest: list[Claimed]) -> None:
        lease_until = connection.ops.adapt_datetimefield_value(timezone.now() + self.lease)
        with connection.cursor() as cursor:
            cursor.execute(
                _UNMARK_SHARED_SQL.format(ids=", ".join(["%s"] * len(rest))),
                [lease_until, lease_token_value(rest[0].lease_token), *(item.id for item in rest)],
            )
            if cursor.rowcount != len(rest):
                raise _OneByOne("deliveries to hand back were not ours")

    def _mark_shared(self, chunk: list[Claimed]) -> int:
        ids, token = [item.id for item in chunk], chunk[0].lease_token
        if connection.vendor != "postgresql":
            return Delivery.objects.filter(pk__in=ids, status=PENDING, lease_token=token).update(
                status=DELIVERED, delivered_at=timezone.now(), leased_until=None, lease_token=None
            )
        with connection.cursor() as cursor:
            cursor.execute(
                _MARK_SHARED_SQL_POSTGRES,
                {
                    "now": timezone.now(),
                    "ids": ids,
                    "token": token,
                    "lock_timeout": SHARED_LOCK_TIMEOUT,
                },
            )
            return cursor.rowcount

    # -- one delivery -------------------------------------------------------------------------

    def _deliver_alone(self, item: Claimed, row: OutboxEvent, decoded: dict[int, Event]) -> None:
        """Deliver one that was tried before: count its attempt and commit, then try it.

        The commit comes first so that the try is counted even if it kills the process.
        """
        if item.attempts >= max(self.max_attempts, 2):
            # Still pending after its last attempt: that one had no outcome, the relay died
            # on it. Stop feeding it to the relay. Not after the first attempt alone: that was
            # counted at claim, for a shared pass that may have died before reaching it.
            self._failed(
                item,
                f"gave up after {item.attempts} attempts, the last without an outcome",
                dead=True,
            )
            return
        with transaction.atomic():
            counted = Delivery.objects.filter(pk=item.id, lease_token=item.lease_token).update(
                attempts=F("attempts") + 1
            )
        if counted:  # else our lease ran out and another relay has it now
            self._deliver_one(replace(item, attempts=item.attempts + 1), row, decoded)

    def _deliver_one(
        self, item: Claimed, row: OutboxEvent, decoded: dict[int, Event] | None = None
    ) -> None:
        """Deliver one in a transaction of its own; its attempt is counted already."""
        try:
            with all_or_nothing():
                if not self._mark_delivered(item):
                    return  # our lease ran out and another relay has it now
                _run(*self._resolve(item, row, decoded))
        except Undeliverable as exc:
            self._failed(item, str(exc), dead=True)
        except Exception as exc:
            logger.warning(
                "handler %s failed on %s %s (attempt %d): %s",
                item.subscriber,
                row.event_type,
                row.event_id,
                item.attempts,
                exc,
            )
            self._failed(item, describe(exc), dead=item.attempts >= self.max_attempts)

    def _mark_delivered(self, item: Claimed) -> bool:
        """Mark the delivery done if our lease still holds; the handler's writes join it.

        On PostgreSQL this transaction then commits without waiting for its WAL flush. That
        is safe because the mark and the handler's writes are one transaction: if the
        database crashes before the flush, both are lost together and the delivery is simply
        pending again (the event itself was committed durably by its publisher), and
        anything that later commits durably after reading these writes flushes them too, the
        WAL being one sequence. Waiting for the disk once per delivery was the relay's main
        cost.
        """
        ops = connection.ops
        postgres = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute(
                _MARK_DELIVERED_SQL_POSTGRES if postgres else _MARK_DELIVERED_SQL,
                {
                    "now": ops.adapt_datetimefield_value(timezone.now()),
                    "id": item.id,
                    "token": lease_token_value(item.lease_token),
                },
            )
            return cursor.rowcount == 1

    @staticmethod
    def _resolve(
        item: Claimed, row: OutboxEvent, decoded: dict[int, Event] | None = None
    ) -> tuple[Handler, Event]:
        """The subscriber's handler and the event, decoded once per event via ``decoded``."""
        try:
            handler = subscription(item.subscriber).handler
            event = decoded.get(row.pk) if decoded is not None else None
            if event is None:
                event = event_class(row.event_type).from_payload(
                    row.payload,
                    event_id=row.event_id,
                    occurred_at=row.occurred_at,
                    correlation_id=row.correlation_id,
                    causation_id=row.causation_id,
                )
                if decoded is not None:
                    decoded[row.pk] = event
        except codec.DecodeError as exc:
            raise Undeliverable(f"undeliverable: {exc}") from exc
        # A subscriber or an event type this relay does not know (LookupError) is a failure
        # like any other, retried with backoff: during a rolling deploy the publisher's code
        # may be newer than this relay's, and the next relay to claim it knows it.
        return handler, event

    def _failed(self, item: Claimed, error: str, *, dead: bool) -> None:
        updates: dict[str, Any] = {"leased_until": None, "lease_token": None, "last_error": error}
        if dead:
            updates["status"] = DEAD
            logger.error(
                "delivery %s to %s is dead: %s", item.id, item.subscriber, error.splitlines()[-1:]
            )
        else:
            updates["next_attempt_at"] = timezone.now() + timedelta(
                seconds=backoff_seconds(item.attempts)
            )
        Delivery.objects.filter(pk=item.id, lease_token=item.lease_token).update(**updates)

    # -- the long-running process ------------------------------------------------------------

    def run_forever(
        self, *, poll_seconds: float | None = None, stop: threading.Event | None = None
    ) -> None:
        """Deliver until ``stop`` is set (or SIGTERM/SIGINT when called from a command)."""
        poll = poll_seconds if poll_seconds is not None else bus_settings().poll_seconds
        stop = stop or threading.Event()
        waiter = _Waiter()
        try:
            while not stop.is_set():
                try:
                    self.drain(should_stop=stop)
                except Exception:
                    # A database hiccup must not end the relay: log, wait, try again.
                    logger.exception("relay pass failed; retrying")
                    connection.close()
                waiter.wait(poll, stop)
        finally:
            waiter.close()
            with contextlib.suppress(Exception):  # stopping: else the leases run out
                self._hand_back_owed()


class _Waiter:
    """Sleeps until a NOTIFY on PostgreSQL, or until the poll interval (the backstop) runs out.

    If the listening connection breaks (a database restart), it falls back to polling and
    listens again on the next wait.
    """

    def __init__(self) -> None:
        self.listens = connection.vendor == "postgresql"
        self.listener: Any = None

    def _listen(self) -> Any:
        import psycopg

        connection.ensure_connection()
        params = connection.get_connection_params()
        listener = psycopg.connect(
            **{k: v for k, v in params.items() if k not in ("cursor_factory", "context")},
            autocommit=True,
        )
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return listener

    def wait(self, timeout: float, stop: threading.Event) -> None:
        if not self.listens:
            stop.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        try:
            if self.listener is None:
                self.listener = self._listen()
            # Short slices so a stop request is seen quickly; any notification ends the wait.
            while not stop.is_set() and time.monotonic() < deadline:
                for _ in self.listener.notifies(timeout=0.25, stop_after=1):
                    return
        except Exception:
            logger.warning("relay lost its LISTEN connection; polling until it is back")
            self.close()
            stop.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.listener is not None:
            try:
                self.listener.close()
            finally:
                self.listener = None


_eager = threading.local()


def deliver_event_now(event_pk: int) -> None:
    """Eager mode: deliver one just-committed event in this process, by the relay's own path.

    Events published while an eager delivery runs (by a handler, or by a task it queued)
    wait in line until the current event has reached all its subscribers, so effects come
    in the order a running relay would produce them, breadth first, not nested.
    """
    queue: list[int] | None = getattr(_eager, "queue", None)
    if queue is not None:
        queue.append(event_pk)
        return
    _eager.queue = queue = [event_pk]
    try:
        while queue:
            pk = queue.pop(0)
            try:
                Relay().run_once(event_pk=pk)
            except Exception:
                # The event is safely committed; the relay will deliver it.
                logger.exception("eager delivery of event %s failed; it stays pending", pk)
    finally:
        _eager.queue = None


def install_stop_signals(
    stop: threading.Event, stopping: str = "relay stopping after the delivery in hand"
) -> None:
    """SIGTERM and SIGINT set ``stop``, and log ``stopping`` with the signal's number."""

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("%s (signal %s)", stopping, signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
