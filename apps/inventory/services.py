"""Inventory's public service interface: use cases, their DTOs and the app's exceptions.

Other apps may import this module and ``apps.inventory.events``; the rest of the app is
private. When inventory runs as a service of its own (``SERVICE_URLS``), the functions other
apps call (stock reads, ``stock_create``, ``stock_adjust``, ``reservation_create`` and
``reservation_get``) go to it over HTTP through ``apps.inventory.http_client``; the rest of
the app always runs them here (docs/SPLITTING.md).

Every change to a product's counters goes through ``_change_stock``: one conditional
``UPDATE`` that checks the invariants and applies the change in a single statement, together
with its row in the stock ledger. Rows are locked in one fixed order (a reservation first,
then its products by id), so concurrent use cases never deadlock on each other. A popular
product's row is the one place where checkouts queue, so use cases change it last: it stays
locked only from that statement to the commit.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.inventory import events
from apps.inventory.events import ReservedLine
from apps.inventory.models import Reservation, ReservationLine, Stock, StockMovement
from ecommerce.bus import publish
from ecommerce.common.db import BIND_LIMIT, db_value, in_batches, lock_row, transactional
from ecommerce.common.errors import DomainError, NotFound
from ecommerce.remote import service_url

if TYPE_CHECKING:
    from apps.inventory.http_client import InventoryClient

logger = logging.getLogger(__name__)

Status = Reservation.Status
Kind = StockMovement.Kind

# The most units one product's stock counts, and one change moves. Under half the integer
# columns' range: a counter plus a change never overflows them.
MAX_UNITS = 1_000_000_000
# The most units a staff member types into one change (an adjustment, a new product's
# stock) in the API and the admin: a bound on typing, well within MAX_UNITS.
MAX_UNITS_TYPED = 1_000_000
# The most products one statement (or one call of the internal API) asks about.
LOOKUP_BATCH = BIND_LIMIT
# Why a renewed reservation's units went back (``reservation_create(renewing_expires_at=...)``).
RENEWED = "renewed"

# -- errors -------------------------------------------------------------------------------------


class StockNotFound(NotFound):
    default_detail = "No stock is kept for this product."


class ReservationNotFound(NotFound):
    default_detail = "No reservation with this reference."


class OutOfStock(DomainError):
    code = "out_of_stock"
    status = 409
    default_detail = "Not enough stock is available."
    example_attr = "3fa85f64-5717-4562-b3fc-2c963f66afa6"  # attr: the product's id


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    status = 409
    default_detail = "On-hand stock cannot go below zero or below what is reserved."


class InvalidQuantity(DomainError):
    code = "invalid_quantity"
    status = 400
    default_detail = "The quantity must be a whole number above zero."


class InvalidReason(DomainError):
    code = "invalid_reason"
    status = 400
    default_detail = "A reason is required (at most 255 characters)."


class ReservationNotActive(DomainError):
    """Commit was asked for a reservation that was released or expired: its units are gone."""

    code = "reservation_not_active"
    status = 409
    default_detail = "The reservation no longer holds stock."


class ReservationNotCommitted(DomainError):
    """Return was asked for a reservation that is still active: nothing left the warehouse yet."""

    code = "reservation_not_committed"
    status = 409
    default_detail = "The reservation has not been committed yet."


class StockLedgerDrift(RuntimeError):
    """Counters no longer cover a reservation: a bug or a manual edit. Run reconcile_stock."""


# -- DTOs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StockDTO:
    product_id: UUID
    sku: str
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int


@dataclass(frozen=True, slots=True)
class ReservationLineIn:
    product_id: UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class ReservationDTO:
    reference: UUID
    status: str  # "active" | "committed" | "released" | "expired" | "returned"
    lines: tuple[ReservedLine, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StockDriftDTO:
    """A product whose reserved count differs from what its active reservations hold."""

    product_id: UUID
    sku: str
    on_hand: int
    reserved: int
    expected_reserved: int
    fixed: bool


# -- stock --------------------------------------------------------------------------------------


def stock_create(
    *,
    product_id: UUID,
    sku: str,
    on_hand: int = 0,
    low_stock_threshold: int = 5,
    actor_id: UUID | None = None,
) -> StockDTO:
    """Start keeping stock for a product. Idempotent: an existing stock is returned unchanged.

    Units on hand at creation are booked as an adjustment ("initial stock", by ``actor_id``):
    publishes ``StockAdjusted`` (and ``BackInStock``) when ``on_hand`` is above zero.
    """
    if remote := _remote():
        return remote.stock_create(
            product_id=product_id,
            sku=sku,
            on_hand=on_hand,
            low_stock_threshold=low_stock_threshold,
            actor_id=actor_id,
        )
    return _stock_create(
        product_id=product_id,
        sku=sku,
        on_hand=on_hand,
        low_stock_threshold=low_stock_threshold,
        actor_id=actor_id,
    )


def stock_set_listed(*, product_id: UUID, listed: bool, as_of: datetime) -> None:
    """Show the product's stock to shoppers, or hide it (its product is a draft, or no longer
    sold), as the products' event that happened at ``as_of`` says. An event older than the
    one that last set it changes nothing: replaying products' events puts back no old
    status. Publishes nothing; a product without stock is a no-op."""
    Stock.objects.filter(
        Q(listed_as_of__isnull=True) | Q(listed_as_of__lte=as_of), product_id=product_id
    ).update(listed=listed, listed_as_of=as_of, updated_at=timezone.now())


@transactional
def _stock_create(
    *, product_id: UUID, sku: str, on_hand: int, low_stock_threshold: int, actor_id: UUID | None
) -> StockDTO:
    if on_hand < 0:
        raise InvalidQuantity("Initial stock cannot be negative.", attr="on_hand")
    if on_hand > MAX_UNITS:
        raise InvalidQuantity(f"Initial stock is at most {MAX_UNITS:,} units.", attr="on_hand")
    stock, created = Stock.objects.get_or_create(
        product_id=product_id, defaults={"sku": sku, "low_stock_threshold": low_stock_threshold}
    )
    if created and on_hand:
        return _adjust(
            product_id=product_id, delta=on_hand, reason="initial stock", actor_id=actor_id
        )
    return _stock_dto(stock)


def stock_get(*, product_id: UUID) -> StockDTO:
    """Raises ``StockNotFound`` (404 ``not_found``) for a product without stock."""
    if remote := _remote():
        return remote.stock_get(product_id=product_id)
    stock = Stock.objects.filter(product_id=product_id).first()
    if stock is None:
        raise StockNotFound()
    return _stock_dto(stock)


_STOCK_BY_PRODUCT_SQL = (
    "SELECT product_id, sku, on_hand, reserved, low_stock_threshold"
    f" FROM {Stock._meta.db_table} WHERE product_id IN ({{ids}})"
)


def stock_get_many(*, product_ids: Iterable[UUID]) -> dict[UUID, StockDTO]:
    """Stock of many products, in one query per ``BIND_LIMIT`` of them; products without
    stock are left out."""
    if remote := _remote():
        return remote.stock_get_many(product_ids=product_ids)
    # Plain rows from a hand-written statement: this runs for every page of the catalog and
    # every cart change, and the ORM building the query cost more than running it.
    ids = [_db_uuid(product_id) for product_id in set(product_ids)]
    rows = []
    with connection.cursor() as cursor:
        for batch in in_batches(ids):
            cursor.execute(_STOCK_BY_PRODUCT_SQL.format(ids=", ".join(["%s"] * len(batch))), batch)
            rows += cursor.fetchall()
    stock = (
        StockDTO(
            product_id=_uuid(product_id),
            sku=sku,
            on_hand=on_hand,
            reserved=reserved,
            available=on_hand - reserved,
            low_stock_threshold=threshold,
        )
        for product_id, sku, on_hand, reserved, threshold in rows
    )
    return {dto.product_id: dto for dto in stock}


def stock_adjust(
    *, product_id: UUID, delta: int, reason: str, actor_id: UUID | None = None
) -> StockDTO:
    """Change on-hand stock by ``delta`` (a delivery, a count, breakage), with a reason.

    Publishes ``StockAdjusted`` and, when available stock crosses a line, ``LowStock``,
    ``OutOfStock`` or ``BackInStock``. Raises ``InsufficientStock`` (409) when on-hand would
    go below zero or below what is reserved, ``StockNotFound`` for an unknown product, and
    ``InvalidQuantity``/``InvalidReason`` (400) for a zero delta or a missing reason.
    """
    if remote := _remote():
        return remote.stock_adjust(
            product_id=product_id, delta=delta, reason=reason, actor_id=actor_id
        )
    return _stock_adjust(product_id=product_id, delta=delta, reason=reason, actor_id=actor_id)


@transaction.atomic
def _stock_adjust(*, product_id: UUID, delta: int, reason: str, actor_id: UUID | None) -> StockDTO:
    if delta == 0:
        raise InvalidQuantity("An adjustment changes stock by at least one unit.", attr="delta")
    if abs(delta) > MAX_UNITS:
        raise InvalidQuantity(f"An adjustment moves at most {MAX_UNITS:,} units.", attr="delta")
    reason = reason.strip()
    if not reason or len(reason) > 255:
        raise InvalidReason(attr="reason")
    return _adjust(product_id=product_id, delta=delta, reason=reason, actor_id=actor_id)


def _adjust(*, product_id: UUID, delta: int, reason: str, actor_id: UUID | None) -> StockDTO:
    change = _change_stock(
        product_id, on_hand_delta=delta, kind=Kind.ADJUSTMENT, reason=reason, actor_id=actor_id
    )
    if change is None:
        stock = Stock.objects.filter(product_id=product_id).first()
        if stock is None:
            raise StockNotFound()
        if stock.on_hand + delta > MAX_UNITS:
            raise InvalidQuantity(
                f"{stock.sku} would have {stock.on_hand + delta:,} on hand; "
                f"a product's stock is at most {MAX_UNITS:,} units.",
                attr="delta",
            )
        raise InsufficientStock(
            f"Cannot remove {-delta} of {stock.sku}: {stock.on_hand} on hand, "
            f"{stock.reserved} reserved."
        )
    publish(
        events.StockAdjusted(
            product_id=product_id,
            sku=change.sku,
            delta=delta,
            reason=reason,
            on_hand=change.on_hand,
            reserved=change.reserved,
            available=change.available_after,
            actor_id=actor_id,
        )
    )
    _publish_crossing(change)
    return change.to_dto()


# -- reservations -------------------------------------------------------------------------------


def reservation_create(
    *,
    reference: UUID,
    lines: Sequence[ReservationLineIn],
    ttl: timedelta | None = None,
    renewing_expires_at: datetime | None = None,
) -> ReservationDTO:
    """Hold stock for ``reference`` (a cart id), all lines or none, until ``ttl`` runs out.

    Quantities of the same product are added up first. Idempotent: a second call with the same
    reference returns the first reservation, whatever its status; one still active is taken
    up by that call, and its hold starts over (a new ``expires_at``: the caller places an
    order on it now, and a renewal asked with what was read before is refused).

    ``renewing_expires_at``: the expiry time of that first reservation as the caller read it
    (it is set anew each time a reservation is made or renewed), to have it made over into
    this one if it was not sold and has not changed since (so a repeated request does not
    renew twice): one still active gives its units back first (``StockReleased``, reason
    ``renewed``), one released or expired holds stock again. (For a checkout retried after an
    interrupted one, docs/SPLITTING.md.)
    Publishes ``StockReserved`` (and ``LowStock``/``OutOfStock``/``BackInStock`` on a
    crossing). Raises ``OutOfStock`` (409, ``attr`` = the product id) with nothing changed, and
    ``InvalidQuantity`` (400) for a quantity below one.
    """
    if remote := _remote():
        return remote.reservation_create(
            reference=reference, lines=lines, ttl=ttl, renewing_expires_at=renewing_expires_at
        )
    return _reservation_create(
        reference=reference, lines=lines, ttl=ttl, renewing_expires_at=renewing_expires_at
    )


@transactional
def _reservation_create(
    *,
    reference: UUID,
    lines: Sequence[ReservationLineIn],
    ttl: timedelta | None,
    renewing_expires_at: datetime | None,
) -> ReservationDTO:
    wanted = _quantities_per_product(lines)
    if ttl is None:
        ttl = timedelta(minutes=settings.RESERVATION_TTL_MINUTES)
    now = timezone.now()
    expires_at = now + ttl
    reservation_id = _insert_reservation(reference, expires_at=expires_at, now=now)
    held: dict[UUID, ReservedLine] = {}  # what a renewed reservation still holds
    if reservation_id is None:
        # This reference was reserved before (or by a concurrent call, which committed
        # first): the first reservation stands, whatever its status, unless renewed.
        reservation = _lock_reservation(reference)
        if renewing_expires_at is None:
            if reservation.status == Status.ACTIVE:
                _take_up(reservation, expires_at)
            return _reservation_dto(reservation)
        if reservation.expires_at != renewing_expires_at or reservation.status in (
            Status.COMMITTED,
            Status.RETURNED,
        ):
            return _reservation_dto(reservation)  # changed since, or sold: not made over
        held = _start_over(reservation, expires_at)
        reservation_id = reservation.pk
    skus = _insert_lines(reservation_id, wanted)
    for product_id, quantity in wanted.items():
        if product_id not in skus:  # everything above rolls back with the exception
            raise OutOfStock(_shortage(product_id, quantity), attr=str(product_id))

    reserved = tuple(
        ReservedLine(product_id=product_id, sku=skus[product_id], quantity=quantity)
        for product_id, quantity in wanted.items()
    )
    if held:
        publish(
            events.StockReleased(reference=reference, lines=tuple(held.values()), reason=RENEWED)
        )
    publish(events.StockReserved(reference=reference, lines=reserved, expires_at=expires_at))
    changes = []
    for product_id in sorted(held.keys() | wanted.keys()):  # a fixed lock order
        given_back = held.get(product_id)
        if given_back is not None:
            released = _change_reserved_stock(
                given_back,
                reference=reference,
                reserved_delta=-given_back.quantity,
                kind=Kind.RELEASE,
                reason=RENEWED,
            )
            if product_id not in wanted:
                changes.append(released)
                continue
        change = _change_stock(
            product_id,
            reserved_delta=wanted[product_id],
            kind=Kind.RESERVATION,
            reference=reference,
        )
        if change is None:  # everything above rolls back with the exception
            raise OutOfStock(_shortage(product_id, wanted[product_id]), attr=str(product_id))
        if given_back is not None:
            # One change from before the release to after the reservation: a product given
            # back and taken again in one transaction never crossed a line on the way.
            change = replace(change, reserved_delta=change.reserved_delta - given_back.quantity)
        changes.append(change)
    for change in changes:
        _publish_crossing(change)
    return ReservationDTO(
        reference=reference, status=Status.ACTIVE, lines=reserved, expires_at=expires_at
    )


def _take_up(reservation: Reservation, expires_at: datetime) -> None:
    """An active reservation asked for again: a checkout retried after an interrupted one
    places its order on it. Its hold starts over, so the order has its full time to be paid
    (the old one may have run out, not swept yet), and its new ``expires_at`` makes stale any
    renewal an earlier attempt asked for: that one must not remake the order's reservation."""
    reservation.expires_at = expires_at
    reservation.save(update_fields=["expires_at", "updated_at"])


def _start_over(reservation: Reservation, expires_at: datetime) -> dict[UUID, ReservedLine]:
    """Make a reservation that was not sold active again, without lines; returns the lines it
    still held (an active one's), whose units its renewal gives back."""
    held = (
        {line.product_id: line for line in _reserved_lines(reservation.lines.all())}
        if reservation.status == Status.ACTIVE
        else {}
    )
    reservation.lines.all().delete()
    reservation.status = Status.ACTIVE
    reservation.release_reason = ""
    reservation.expires_at = expires_at
    reservation.save(update_fields=["status", "release_reason", "expires_at", "updated_at"])
    return held


def reservation_get(*, reference: UUID) -> ReservationDTO:
    """Raises ``ReservationNotFound`` (404 ``not_found``)."""
    if remote := _remote():
        return remote.reservation_get(reference=reference)
    reservation = _find_reservation(reference)
    if reservation is None:
        raise ReservationNotFound()
    return _reservation_dto(reservation)


def reservation_commit(*, reference: UUID, payment_id: UUID | None = None) -> ReservationDTO:
    """The reserved units are sold: on-hand and reserved both go down by the quantities.

    Publishes ``StockCommitted`` (naming ``payment_id``, the payment that bought them). A
    no-op for a committed (or returned) reservation. Raises ``ReservationNotActive`` (409)
    when it was released or expired, ``ReservationNotFound``.
    """
    reservation = _commit(reference=reference, payment_id=payment_id)
    if reservation.status not in (Status.COMMITTED, Status.RETURNED):
        # Raised after the transaction, which changed nothing, so a caller may catch it and
        # go on with its own (the payment handler does).
        raise ReservationNotActive(f"The reservation was {reservation.status}; nothing is held.")
    return reservation


@transactional
def _commit(*, reference: UUID, payment_id: UUID | None) -> ReservationDTO:
    ended = _end_if(reference, Status.ACTIVE, Status.COMMITTED)
    if ended is None:
        return _reservation_dto(_lock_reservation(reference))
    publish(events.StockCommitted(reference=reference, lines=ended.lines, payment_id=payment_id))
    for line in ended.lines:
        _change_reserved_stock(
            line,
            reference=reference,
            on_hand_delta=-line.quantity,
            reserved_delta=-line.quantity,
            kind=Kind.COMMIT,
        )
    # Available stock does not move on a commit, so there is no crossing to announce.
    return ended


@transactional
def reservation_release(*, reference: UUID, reason: str) -> ReservationDTO:
    """Give the units back (payment failed, checkout cancelled); a no-op unless active.

    Publishes ``StockReleased`` (and ``BackInStock`` on a crossing). Raises
    ``ReservationNotFound``.
    """
    ended = _end_if(reference, Status.ACTIVE, Status.RELEASED, release_reason=reason)
    if ended is None:
        return _reservation_dto(_lock_reservation(reference))
    publish(events.StockReleased(reference=reference, lines=ended.lines, reason=reason))
    _unreserve(reference, ended.lines, Kind.RELEASE, reason)
    return ended


@transactional
def reservation_return(*, reference: UUID) -> ReservationDTO:
    """A refund: the committed units come back on hand, with a ``return`` ledger row each.

    Publishes ``StockReturned`` (and ``BackInStock`` on a crossing). A no-op for a reservation
    already returned, or released/expired (its units never left). Raises
    ``ReservationNotCommitted`` (409) while it is still active, ``ReservationNotFound``.
    """
    ended = _end_if(reference, Status.COMMITTED, Status.RETURNED)
    if ended is None:
        reservation = _lock_reservation(reference)
        if reservation.status == Status.ACTIVE:
            raise ReservationNotCommitted()
        if reservation.status != Status.COMMITTED:
            return _reservation_dto(reservation)
        # Committed while the update above ran: it read the row as still active, so it did
        # not match and did not wait for the commit's lock. Under the lock now, it matches.
        ended = _end_if(reference, Status.COMMITTED, Status.RETURNED)
        assert ended is not None, "a committed reservation held locked is returned"
    publish(events.StockReturned(reference=reference, lines=ended.lines))
    for line in ended.lines:
        change = _change_reserved_stock(
            line,
            reference=reference,
            on_hand_delta=line.quantity,
            kind=Kind.RETURN,
            reason="refund",
        )
        _publish_crossing(change)
    return ended


def reservations_expire_due() -> int:
    """Release every active reservation past its ``expires_at``; returns how many expired.

    Publishes ``ReservationExpired`` for each (and ``BackInStock`` on a crossing). Each
    reservation is expired in its own short transaction, taken with ``SKIP LOCKED``: runs side
    by side share the work, and one that a commit or release holds is left to it. One that
    cannot be expired (its stock drifted, say) is logged and left active for this run, so it
    does not hold back the others: every run would otherwise start with it and stop there.
    """
    expired = 0
    failed: set[int] = set()
    while True:
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(status=Status.ACTIVE, expires_at__lte=timezone.now())
                .exclude(pk__in=failed)
                .order_by("expires_at")
                .first()
            )
            if reservation is None:
                return expired
            try:
                with transaction.atomic():
                    _expire(reservation)
            except Exception:
                logger.exception("reservation %s cannot expire; left active", reservation.reference)
                failed.add(reservation.pk)
                continue
        expired += 1


def _expire(reservation: Reservation) -> None:
    reservation.status = Status.EXPIRED
    reservation.release_reason = "expired"
    reservation.save(update_fields=["status", "release_reason", "updated_at"])
    lines = _reserved_lines(sorted(reservation.lines.all(), key=lambda line: line.product_id))
    publish(events.ReservationExpired(reference=reservation.reference, lines=lines))
    _unreserve(reservation.reference, lines, Kind.EXPIRY, "expired")


# -- reconciliation -----------------------------------------------------------------------------


def stock_reconcile(*, fix: bool = False) -> list[StockDriftDTO]:
    """Compare each product's reserved count with its active reservations' lines.

    Returns the products that drift. With ``fix``, sets reserved to what the reservations hold,
    in one transaction per product with a ``reconciliation`` ledger row (and a crossing event
    where available stock moves); a drift that on-hand cannot cover is reported, not fixed.
    """
    drifting = list(
        Stock.objects.annotate(expected=_expected_reserved())
        .exclude(reserved=F("expected"))
        .order_by("product_id")
        .values_list("product_id", flat=True)
    )
    checked = (_reconcile_one(product_id, fix=fix) for product_id in drifting)
    return [drift for drift in checked if drift is not None]


def _reconcile_one(product_id: UUID, *, fix: bool) -> StockDriftDTO | None:
    with transaction.atomic():
        # Every use case that changes a reservation also updates this row, so once it is
        # locked the active reservations it sees are exactly the ones it counts.
        stock = Stock.objects.select_for_update().get(product_id=product_id)
        expected: int = (
            Stock.objects.filter(pk=stock.pk)
            .annotate(expected=_expected_reserved())
            .values_list("expected", flat=True)
            .get()
        )
        if expected == stock.reserved:  # settled since the first look
            return None
        fixed = False
        if fix:
            change = _change_stock(
                product_id,
                reserved_delta=expected - stock.reserved,
                kind=Kind.RECONCILIATION,
                reason=f"reconcile_stock: reserved {stock.reserved} -> {expected}",
            )
            if change is not None:
                _publish_crossing(change)
                fixed = True
        return StockDriftDTO(
            product_id=product_id,
            sku=stock.sku,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            expected_reserved=expected,
            fixed=fixed,
        )


def _expected_reserved() -> Coalesce:
    held = (
        ReservationLine.objects.filter(
            product_id=OuterRef("product_id"), reservation__status=Status.ACTIVE
        )
        .order_by()
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return Coalesce(Subquery(held), Value(0))


# -- the one way counters change ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """One product's counters right after a change, and the change itself."""

    product_id: UUID
    sku: str
    on_hand: int
    reserved: int
    low_stock_threshold: int
    on_hand_delta: int
    reserved_delta: int

    @property
    def available_after(self) -> int:
        return self.on_hand - self.reserved

    @property
    def available_before(self) -> int:
        return self.available_after - (self.on_hand_delta - self.reserved_delta)

    def to_dto(self) -> StockDTO:
        return StockDTO(
            product_id=self.product_id,
            sku=self.sku,
            on_hand=self.on_hand,
            reserved=self.reserved,
            available=self.available_after,
            low_stock_threshold=self.low_stock_threshold,
        )


_CHANGE_STOCK_SQL = f"""
    UPDATE {Stock._meta.db_table}
       SET on_hand = on_hand + %(on_hand)s,
           reserved = reserved + %(reserved)s,
           updated_at = %(now)s
     WHERE product_id = %(product_id)s
       AND on_hand + %(on_hand)s BETWEEN 0 AND {MAX_UNITS}
       AND reserved + %(reserved)s >= 0
       AND (on_hand + %(on_hand)s) - (reserved + %(reserved)s) >= 0
 RETURNING sku, on_hand, reserved, low_stock_threshold
"""

# On PostgreSQL the change and its ledger row are one statement: one round trip while the
# row is locked. (SQLite has no UPDATE inside WITH; it records with a second statement.)
_CHANGE_AND_RECORD_STOCK_SQL = f"""
    WITH changed AS ({_CHANGE_STOCK_SQL}),
    recorded AS (
        INSERT INTO {StockMovement._meta.db_table}
            (product_id, sku, kind, on_hand_delta, reserved_delta, on_hand_after,
             reserved_after, reason, reference, actor_id, created_at)
        SELECT %(product_id)s, sku, %(kind)s, %(on_hand)s, %(reserved)s, on_hand,
               reserved, %(reason)s, %(reference)s, %(actor_id)s, %(now)s
          FROM changed
    )
    SELECT sku, on_hand, reserved, low_stock_threshold FROM changed
"""


_INSERT_RESERVATION_SQL = f"""
    INSERT INTO {Reservation._meta.db_table}
        (reference, status, expires_at, release_reason, created_at, updated_at)
    VALUES (%(reference)s, %(status)s, %(expires_at)s, '', %(now)s, %(now)s)
    ON CONFLICT (reference) DO NOTHING
    RETURNING id
"""

# (VALUES ...) names its columns column1, column2 on PostgreSQL and SQLite alike.
_INSERT_LINES_SQL = f"""
    INSERT INTO {ReservationLine._meta.db_table} (reservation_id, product_id, sku, quantity)
    SELECT %s, stock.product_id, stock.sku, wanted.column2
      FROM {Stock._meta.db_table} stock
      JOIN (VALUES {{values}}) AS wanted ON wanted.column1 = stock.product_id
    RETURNING product_id, sku
"""

# PostgreSQL only: the status change and the lines it ends, in one round trip.
_END_RESERVATION_SQL = f"""
    WITH ended AS (
        UPDATE {Reservation._meta.db_table}
           SET status = %(to_status)s,
               release_reason = COALESCE(%(release_reason)s, release_reason),
               updated_at = %(now)s
         WHERE reference = %(reference)s AND status = %(from_status)s
        RETURNING id, expires_at
    )
    SELECT ended.expires_at, line.product_id, line.sku, line.quantity
      FROM ended LEFT JOIN {ReservationLine._meta.db_table} line ON line.reservation_id = ended.id
     ORDER BY line.product_id
"""


def _change_stock(
    product_id: UUID,
    *,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    kind: str,
    reason: str = "",
    reference: UUID | None = None,
    actor_id: UUID | None = None,
) -> _Change | None:
    """Apply the deltas to one product's counters if every invariant holds afterwards, and
    write the change to the ledger.

    Check and change are one conditional UPDATE, so two buyers of the last unit cannot both
    pass the check; the row stays locked until commit. Returns ``None``, changing nothing,
    when the product has no stock or the change would break an invariant.
    """
    now = timezone.now()
    params: dict[str, Any] = {
        "on_hand": on_hand_delta,
        "reserved": reserved_delta,
        "now": db_value(Stock, "updated_at", now),
        "product_id": db_value(Stock, "product_id", product_id),
        "kind": kind,
        "reason": reason,
        "reference": db_value(StockMovement, "reference", reference),
        "actor_id": db_value(StockMovement, "actor_id", actor_id),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_CHANGE_AND_RECORD_STOCK_SQL, params)
            row = cursor.fetchone()
        else:
            cursor.execute(_CHANGE_STOCK_SQL, params)
            row = cursor.fetchone()
    if row is None:
        return None
    sku, on_hand, reserved, threshold = row
    if connection.vendor != "postgresql":
        StockMovement.objects.create(
            product_id=product_id,
            sku=sku,
            kind=kind,
            on_hand_delta=on_hand_delta,
            reserved_delta=reserved_delta,
            on_hand_after=on_hand,
            reserved_after=reserved,
            reason=reason,
            reference=reference,
            actor_id=actor_id,
            created_at=now,
        )
    return _Change(
        product_id=product_id,
        sku=sku,
        on_hand=on_hand,
        reserved=reserved,
        low_stock_threshold=threshold,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
    )


def _change_reserved_stock(
    line: ReservedLine,
    *,
    reference: UUID,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    kind: str,
    reason: str = "",
) -> _Change:
    """A change that a reservation's own units must always cover; anything else is drift."""
    change = _change_stock(
        line.product_id,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
        kind=kind,
        reason=reason,
        reference=reference,
    )
    if change is None:
        raise StockLedgerDrift(
            f"stock of {line.sku} ({line.product_id}) does not cover reservation "
            f"{reference}: run manage.py reconcile_stock"
        )
    return change


def _publish_crossing(change: _Change) -> None:
    """Announce available stock crossing zero or the low-stock line, once per crossing."""
    before, after = change.available_before, change.available_after
    threshold = change.low_stock_threshold
    if before > 0 and after == 0:
        publish(events.OutOfStock(product_id=change.product_id, sku=change.sku))
    elif before == 0 and after > 0:
        publish(events.BackInStock(product_id=change.product_id, sku=change.sku, available=after))
    elif before > threshold >= after > 0:
        publish(
            events.LowStock(
                product_id=change.product_id, sku=change.sku, available=after, threshold=threshold
            )
        )


# -- helpers ------------------------------------------------------------------------------------


def _remote() -> "InventoryClient | None":
    """Inventory in another process, when ``SERVICE_URLS`` says it runs elsewhere."""
    url = service_url("inventory")
    if url is None:
        return None
    from apps.inventory.http_client import InventoryClient  # it imports this module

    return InventoryClient(url)


def _quantities_per_product(lines: Sequence[ReservationLineIn]) -> dict[UUID, int]:
    if not lines:
        raise InvalidQuantity("A reservation needs at least one line.", attr="lines")
    wanted: dict[UUID, int] = {}
    for line in lines:
        if line.quantity < 1:
            raise InvalidQuantity(attr="quantity")
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
        if wanted[line.product_id] > MAX_UNITS:
            raise InvalidQuantity(
                f"A reservation holds at most {MAX_UNITS:,} units of a product.", attr="quantity"
            )
    return dict(sorted(wanted.items()))


def _shortage(product_id: UUID, quantity: int) -> str:
    stock = Stock.objects.filter(product_id=product_id).first()
    if stock is None:
        return f"Product {product_id} is not stocked."
    return f"Only {max(stock.available, 0)} of {stock.sku} available, {quantity} wanted."


def _find_reservation(reference: UUID) -> Reservation | None:
    return Reservation.objects.filter(reference=reference).prefetch_related("lines").first()


def _lock_reservation(reference: UUID) -> Reservation:
    reservation = lock_row(Reservation, reference=reference)
    if reservation is None:
        raise ReservationNotFound()
    return reservation


def _insert_reservation(reference: UUID, *, expires_at: datetime, now: datetime) -> int | None:
    """The new reservation's id, or ``None`` when the reference has one already.

    A concurrent insert of the same reference waits on the unique index until the first
    transaction ends, so no savepoint is needed to tell the two apart.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_RESERVATION_SQL,
            {
                "reference": _db_uuid(reference),
                "status": Status.ACTIVE,
                "expires_at": db_value(Reservation, "expires_at", expires_at),
                "now": db_value(Reservation, "expires_at", now),
            },
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _insert_lines(reservation_id: int, wanted: dict[UUID, int]) -> dict[UUID, str]:
    """Write the reservation's lines with each product's SKU from its stock, in one statement.

    Returns the SKU per product written; a product without stock gets no line.
    """
    values = ", ".join(["(%s, %s)"] * len(wanted))
    params: list[Any] = [reservation_id]
    for product_id, quantity in wanted.items():
        params += [_db_uuid(product_id), quantity]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_LINES_SQL.format(values=values), params)
        rows = cursor.fetchall()
    to_uuid = ReservationLine._meta.get_field("product_id").to_python
    return {to_uuid(product_id): sku for product_id, sku in rows}


def _end_if(
    reference: UUID, from_status: str, to_status: str, *, release_reason: str | None = None
) -> ReservationDTO | None:
    """Move the reservation from one status to another, if it is in the first one.

    One conditional UPDATE, which also takes the reservation's row lock (the first in the
    fixed order), returning the lines by product id. ``None``, changing nothing, when there is
    no such reservation or it is in another status.
    """
    now = timezone.now()
    if release_reason is not None:
        release_reason = release_reason[:255]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _END_RESERVATION_SQL,
                {
                    "reference": reference,
                    "from_status": from_status,
                    "to_status": to_status,
                    "release_reason": release_reason,
                    "now": now,
                },
            )
            rows = cursor.fetchall()
        if not rows:
            return None
        expires_at = rows[0][0]
        lines = tuple(
            ReservedLine(product_id=product_id, sku=sku, quantity=quantity)
            for _, product_id, sku, quantity in rows
            if product_id is not None  # LEFT JOIN: the row of the change, even without lines
        )
    else:  # SQLite has no UPDATE inside WITH: the same in two statements
        changes: dict[str, Any] = {"status": to_status, "updated_at": now}
        if release_reason is not None:
            changes["release_reason"] = release_reason
        if not Reservation.objects.filter(reference=reference, status=from_status).update(
            **changes
        ):
            return None
        reservation = _find_reservation(reference)
        assert reservation is not None
        expires_at = reservation.expires_at
        lines = _reserved_lines(reservation.lines.all())
    return ReservationDTO(reference=reference, status=to_status, lines=lines, expires_at=expires_at)


def _unreserve(reference: UUID, lines: Sequence[ReservedLine], kind: str, reason: str) -> None:
    """The units of an ended reservation are available again."""
    for line in lines:
        change = _change_reserved_stock(
            line, reference=reference, reserved_delta=-line.quantity, kind=kind, reason=reason
        )
        _publish_crossing(change)


def _db_uuid(value: UUID) -> Any:
    return db_value(ReservationLine, "product_id", value)


def _uuid(value: UUID | str) -> UUID:
    # What a plain cursor returns for a UUID column: a UUID on PostgreSQL, its hex on SQLite.
    return value if isinstance(value, UUID) else UUID(value)


def _reserved_lines(lines: Iterable[ReservationLine]) -> tuple[ReservedLine, ...]:
    return tuple(
        ReservedLine(product_id=line.product_id, sku=line.sku, quantity=line.quantity)
        for line in lines
    )


def _reservation_dto(reservation: Reservation) -> ReservationDTO:
    return ReservationDTO(
        reference=reservation.reference,
        status=reservation.status,
        lines=_reserved_lines(reservation.lines.all()),
        expires_at=reservation.expires_at,
    )


def _stock_dto(stock: Stock) -> StockDTO:
    return StockDTO(
        product_id=stock.product_id,
        sku=stock.sku,
        on_hand=stock.on_hand,
        reserved=stock.reserved,
        available=stock.available,
        low_stock_threshold=stock.low_stock_threshold,
    )
