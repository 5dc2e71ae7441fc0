"""Notifications's public service interface: use cases, their DTOs and the app's exceptions.

Other apps may import this module and ``apps.notifications.events``; the rest of the app is
private.

How a message goes out: a handler calls one of the ``notify_*`` use cases inside the relay's
transaction. It renders the templates and records one ``Notification`` per channel and
recipient; the row is unique per (source event, kind, channel, recipient), so an event
delivered twice or replayed notifies nobody twice. In-app notifications are delivered by
being recorded. Email notifications are ``pending`` until ``notification_send`` (a django-q2
task queued after commit) hands them to the mail server; an SMTP error schedules the task
again with exponential backoff, up to ``NOTIFICATION_MAX_ATTEMPTS`` tries, after which the
notification is ``failed`` with the error. A template that fails to render makes its
notification ``failed`` at once with the reason; nothing is raised to the relay.
"""

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import formataddr
from functools import partial
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.notifications.conf import notification_settings
from apps.notifications.events import NotificationFailed, NotificationSent
from apps.notifications.models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    Subscription,
    SubscriptionKind,
)
from apps.notifications.rendering import Rendered, RenderFailed, render_email, render_in_app
from apps.products import services as products
from ecommerce.bus import publish
from ecommerce.common.db import (
    db_value,
    fetch_models,
    insert_unless_exists,
    transactional,
    update_if,
)
from ecommerce.common.errors import DomainError, NotFound
from ecommerce.common.retry import (
    again_on_database_error,
    backoff_seconds,
    cancel_scheduled,
    schedule_task_once,
    scheduled_for,
    stall_cutoffs,
)
from ecommerce.common.tasks import queue_task

logger = logging.getLogger(__name__)

Kind = NotificationKind
Status = NotificationStatus

SEND_TASK = "apps.notifications.tasks.send_notification"
# How long a send task holds an email: well above EMAIL_TIMEOUT for the few SMTP round trips,
# below NOTIFICATION_STALL_SECONDS so a sweep can pick up the email of a task that died.
SEND_LEASE_SECONDS = 300

# What a failed payment means for the customer, by the payment's failure code. A shop can
# word it differently in its own notifications/payment_failed/ templates.
PAYMENT_FAILURE_REASONS = {
    "payment_declined": "Your card issuer declined the payment.",
    # After timeouts nobody knows whether the card was charged; payments refunds a charge
    # that turns up later, so say that rather than promise nothing was taken.
    "gateway_unavailable": (
        "We could not confirm the payment with our payment provider; if you were charged, "
        "the money will be refunded automatically."
    ),
    "invalid_payment_token": "The payment details could not be read.",
    "order_expired": (
        "The time to pay for the order ran out; if you were charged, "
        "the money will be refunded automatically."
    ),
}
# Codes after which the shop cannot be sure that no money was taken.
PAYMENT_OUTCOME_UNKNOWN = frozenset({"gateway_unavailable", "order_expired"})
PAYMENT_FAILURE_DEFAULT_REASON = "The payment could not be completed."


# -- errors ------------------------------------------------------------------------------------


class NotificationNotFound(NotFound):
    default_detail = "Notification not found."


class SubscriptionNotFound(NotFound):
    default_detail = "Subscription not found."


class ProductNotFound(NotFound):
    default_detail = "No product with this id."


class ProductUnavailable(DomainError):
    code = "product_unavailable"
    default_detail = "This product is no longer sold."


class DuplicateSubscription(DomainError):
    code = "duplicate_subscription"
    default_detail = "You are already subscribed to this alert for this product."


class UnknownSubscriptionKind(DomainError):
    code = "invalid_choice"
    status = 400
    default_detail = "Unknown kind: use back_in_stock or price_drop."


# -- DTOs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationDTO:
    id: UUID
    user_id: UUID | None
    email: str
    channel: str  # "email" | "in_app"
    kind: str
    subject: str
    body_text: str
    status: str  # "pending" | "sent" | "failed"
    attempts: int
    last_error: str
    source_event_id: UUID
    order_id: UUID | None
    product_id: UUID | None
    read: bool
    read_at: datetime | None
    sent_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionDTO:
    id: UUID
    user_id: UUID
    product_id: UUID
    kind: str  # "back_in_stock" | "price_drop"
    price_when_subscribed: Decimal | None  # a price drop alert's mark
    fulfilled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order, as the order-received message lists it."""

    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int


def to_dto(notification: Notification) -> NotificationDTO:
    return NotificationDTO(
        id=notification.id,
        user_id=notification.user_id,
        email=notification.email,
        channel=notification.channel,
        kind=notification.kind,
        subject=notification.subject,
        body_text=notification.body_text,
        status=notification.status,
        attempts=notification.attempts,
        last_error=notification.last_error,
        source_event_id=notification.source_event_id,
        order_id=notification.order_id,
        product_id=notification.product_id,
        read=notification.read_at is not None,
        read_at=notification.read_at,
        sent_at=notification.sent_at,
        created_at=notification.created_at,
    )


def subscription_to_dto(subscription: Subscription) -> SubscriptionDTO:
    return SubscriptionDTO(
        id=subscription.id,
        user_id=subscription.user_id,
        product_id=subscription.product_id,
        kind=subscription.kind,
        price_when_subscribed=subscription.price_when_subscribed,
        fulfilled_at=subscription.fulfilled_at,
        created_at=subscription.created_at,
    )


# -- what happened to an order (called by handlers) ---------------------------------------------


@transactional
def notify_order_received(
    *,
    source_event_id: UUID,
    order_id: UUID,
    user_id: UUID | None,
    email: str,
    lines: Sequence[OrderLine],
    total: Decimal,
    currency: str,
) -> list[NotificationDTO]:
    """Tell the customer their order is in and payment is under way. Returns what was new.

    Publishes ``NotificationSent`` for the in-app message, ``NotificationFailed`` for a
    template that did not render; the email's outcome is published when it is sent.
    """
    context = {
        "order_id": str(order_id),
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
                "line_total": _money(line.unit_price * line.quantity),
            }
            for line in lines
        ],
        "total": _money(total),
        "currency": currency,
    }
    return _notify(
        kind=Kind.ORDER_RECEIVED,
        source_event_id=source_event_id,
        context=context,
        email=email,
        user_id=user_id,
        order_id=order_id,
    )


@transactional
def notify_payment_confirmed(
    *,
    source_event_id: UUID,
    order_id: UUID,
    user_id: UUID | None,
    email: str,
    payment_id: UUID,
    total: Decimal,
    currency: str,
) -> list[NotificationDTO]:
    """Send the receipt: the order is paid. Publishes as ``notify_order_received``.

    The receipt lists the order's lines when the order-received message recorded them.
    """
    context = {
        "order_id": str(order_id),
        "payment_id": str(payment_id),
        "lines": _order_lines(order_id),
        "total": _money(total),
        "currency": currency,
    }
    return _notify(
        kind=Kind.PAYMENT_CONFIRMED,
        source_event_id=source_event_id,
        context=context,
        email=email,
        user_id=user_id,
        order_id=order_id,
    )


@transactional
def notify_payment_failed(
    *,
    source_event_id: UUID,
    order_id: UUID,
    user_id: UUID | None,
    email: str,
    failure_code: str,
    total: Decimal,
    currency: str,
) -> list[NotificationDTO]:
    """Tell the customer the payment did not go through, why, and what to do. Publishes as
    ``notify_order_received``."""
    context = {
        "order_id": str(order_id),
        "failure_code": failure_code,
        "reason": PAYMENT_FAILURE_REASONS.get(failure_code, PAYMENT_FAILURE_DEFAULT_REASON),
        "nothing_charged": failure_code not in PAYMENT_OUTCOME_UNKNOWN,
        "lines": _order_lines(order_id),
        "total": _money(total),
        "currency": currency,
    }
    return _notify(
        kind=Kind.PAYMENT_FAILED,
        source_event_id=source_event_id,
        context=context,
        email=email,
        user_id=user_id,
        order_id=order_id,
    )


@transactional
def notify_order_expired(
    *,
    source_event_id: UUID,
    order_id: UUID,
    user_id: UUID | None,
    email: str,
    total: Decimal | None,
    currency: str | None,
) -> list[NotificationDTO]:
    """The order's time to pay ran out: tell the customer as for a failed payment, with
    ``order_expired`` (a charge, if any, is refunded). ``total`` and ``currency`` as the order
    came to; when the event did not carry them (one published before it did), as the
    order-received message recorded them, and nothing is sent if there is none."""
    if total is None or currency is None:
        received = _order_received_context(order_id)
        if received is None:
            logger.warning("order %s expired; nothing recorded to tell its customer", order_id)
            return []
        total, currency = Decimal(received["total"]), str(received["currency"])
    return notify_payment_failed(
        source_event_id=source_event_id,
        order_id=order_id,
        user_id=user_id,
        email=email,
        failure_code="order_expired",
        total=total,
        currency=currency,
    )


@transactional
def notify_refund_issued(
    *,
    source_event_id: UUID,
    order_id: UUID,
    email: str,
    payment_id: UUID,
    amount: Decimal,
    currency: str,
) -> list[NotificationDTO]:
    """Tell the customer their money is on its way back. Publishes as ``notify_order_received``.

    The refund event names no user; the in-app message goes to the user this shop already
    told about the order, if any.
    """
    context = {
        "order_id": str(order_id),
        "payment_id": str(payment_id),
        "amount": _money(amount),
        "currency": currency,
    }
    return _notify(
        kind=Kind.REFUND_ISSUED,
        source_event_id=source_event_id,
        context=context,
        email=email,
        user_id=_order_user(order_id),
        order_id=order_id,
    )


@transactional
def notify_item_discontinued(
    *,
    source_event_id: UUID,
    cart_id: UUID,
    user_id: UUID | None,
    email: str | None,
    product_id: UUID,
    sku: str,
    name: str,
    quantity: int,
) -> list[NotificationDTO]:
    """Tell a cart's owner that a product in it is no longer sold and was taken out.

    Publishes as ``notify_order_received``. An anonymous cart without an email address has
    nobody to tell.
    """
    context = {
        "cart_id": str(cart_id),
        "product_id": str(product_id),
        "sku": sku,
        "name": name,
        "quantity": quantity,
    }
    return _notify(
        kind=Kind.ITEM_DISCONTINUED,
        source_event_id=source_event_id,
        context=context,
        email=email or "",
        user_id=user_id,
        product_id=product_id,
    )


# -- product alerts (called by handlers) ---------------------------------------------------------


@transactional
def notify_back_in_stock(*, source_event_id: UUID, product_id: UUID) -> int:
    """Tell every waiting ``back_in_stock`` subscriber, once. Returns the subscriptions fulfilled.

    Uses the product's current name, price and availability from the catalog: a product that
    is not sold any more, or already out of stock again, notifies nobody and the
    subscriptions keep waiting. Publishes as ``notify_order_received``.
    """
    product = _product_or_none(product_id)
    if product is None or product.status != "active" or not product.in_stock:
        return 0
    context = {
        "product_id": str(product.id),
        "name": product.name,
        "sku": product.sku,
        "price": _money(product.price),
        "currency": product.currency,
        "available": product.available_quantity,
    }
    return _fulfil_subscriptions(
        product_id=product_id,
        kind=SubscriptionKind.BACK_IN_STOCK,
        notification_kind=Kind.BACK_IN_STOCK,
        source_event_id=source_event_id,
        context=lambda subscription: context,
    )


@transactional
def notify_price_drop(
    *, source_event_id: UUID, product_id: UUID, old_price: Decimal, new_price: Decimal
) -> int:
    """Tell every waiting ``price_drop`` subscriber whose price the product is now below,
    once: the price when they subscribed (``price_when_subscribed``; the change's
    ``old_price`` for alerts made before that was kept).

    Returns the subscriptions fulfilled. A drop that was undone before this ran notifies
    nobody (the catalog's current price is what counts), nor does one that leaves the price
    at or above a subscriber's mark (100, then 150, then 140: not cheaper than when they
    subscribed), nor a product no longer sold. A rise may still tell someone: a subscriber
    who subscribed while a drop was being handled, whose mark that drop's handler did not
    see. Publishes as ``notify_order_received``.
    """
    product = _product_or_none(product_id)
    if product is None or product.status != "active":
        return 0
    price = product.price
    about = {
        "product_id": str(product.id),
        "name": product.name,
        "sku": product.sku,
        "price": _money(price),
        "currency": product.currency,
    }

    def context(subscription: Subscription) -> dict[str, Any] | None:
        mark = subscription.price_when_subscribed
        was = mark if mark is not None else old_price
        if price >= was:
            return None  # keeps waiting
        return {**about, "old_price": _money(was), "saving": _money(was - price)}

    return _fulfil_subscriptions(
        product_id=product_id,
        kind=SubscriptionKind.PRICE_DROP,
        notification_kind=Kind.PRICE_DROP,
        source_event_id=source_event_id,
        context=context,
    )


def _fulfil_subscriptions(
    *,
    product_id: UUID,
    kind: str,
    notification_kind: str,
    source_event_id: UUID,
    context: Callable[[Subscription], dict[str, Any] | None],
) -> int:
    """Notify the waiting subscriptions and mark them fulfilled. ``context`` gives the
    templates' context per subscription (``None``: not this one, it waits).

    One that this event notified before keeps waiting: its notifications were recorded with
    its fulfilment, so it was armed again since (the event is delivered again, or replayed),
    and it waits for a new event to tell it.
    """
    waiting = list(
        Subscription.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(product_id=product_id, kind=kind, fulfilled_at__isnull=True)
        .order_by("id")
    )
    notified = []
    for subscription in waiting:
        its_context = context(subscription)
        if its_context is None:
            continue
        if _notify(
            kind=notification_kind,
            source_event_id=source_event_id,
            context=its_context,
            email=subscription.user.email,
            user_id=subscription.user_id,
            product_id=product_id,
        ):
            notified.append(subscription.pk)
    if not notified:
        return 0
    return Subscription.objects.filter(pk__in=notified, fulfilled_at__isnull=True).update(
        fulfilled_at=timezone.now()
    )


# -- subscriptions (the shopper's use cases) ----------------------------------------------------


@transaction.atomic
def subscription_create(*, user_id: UUID, product_id: UUID, kind: str) -> SubscriptionDTO:
    """Subscribe a user to a product alert. Publishes nothing.

    A price drop alert keeps the product's price now as its mark (``notify_price_drop``). A
    fulfilled subscription of the same kind is armed again, with a new mark. Raises
    ``UnknownSubscriptionKind`` (400), ``ProductNotFound`` (404; also for a product not
    published yet), ``ProductUnavailable`` (409, discontinued) and ``DuplicateSubscription``
    (409, already waiting); nothing is written then.
    """
    if kind not in SubscriptionKind.values:
        raise UnknownSubscriptionKind(attr="kind")
    product = _product_or_none(product_id)
    if product is None or product.status == "draft":
        raise ProductNotFound(attr="product_id")
    if product.status != "active":
        raise ProductUnavailable(attr="product_id")
    existing = (
        Subscription.objects.select_for_update()
        .filter(user_id=user_id, product_id=product_id, kind=kind)
        .first()
    )
    # A price drop alert fires below the price the shopper sees now.
    mark = product.price if kind == SubscriptionKind.PRICE_DROP else None
    if existing is not None:
        if existing.fulfilled_at is None:
            raise DuplicateSubscription(attr="kind")
        existing.fulfilled_at = None
        existing.price_when_subscribed = mark
        existing.save(update_fields=["fulfilled_at", "price_when_subscribed"])
        return subscription_to_dto(existing)
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                user_id=user_id, product_id=product_id, kind=kind, price_when_subscribed=mark
            )
    except IntegrityError:  # the same request, racing itself
        raise DuplicateSubscription(attr="kind") from None
    return subscription_to_dto(subscription)


def subscription_get(*, user_id: UUID, subscription_id: UUID) -> SubscriptionDTO:
    """Raises ``SubscriptionNotFound`` (404) also for someone else's subscription."""
    return subscription_to_dto(_own_subscription(user_id, subscription_id))


@transaction.atomic
def subscription_delete(*, user_id: UUID, subscription_id: UUID) -> None:
    """Unsubscribe. Raises ``SubscriptionNotFound`` (404) also for someone else's."""
    _own_subscription(user_id, subscription_id).delete()


def _own_subscription(user_id: UUID, subscription_id: UUID) -> Subscription:
    subscription = Subscription.objects.filter(pk=subscription_id, user_id=user_id).first()
    if subscription is None:
        raise SubscriptionNotFound()
    return subscription


# -- the in-app inbox ----------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user_id: UUID, notification_id: UUID) -> NotificationDTO:
    """Mark one of the user's in-app notifications read (it stays read when repeated).

    Raises ``NotificationNotFound`` (404) also for someone else's. Publishes nothing.
    """
    inbox = Notification.objects.filter(user_id=user_id, channel=Channel.IN_APP)
    if not inbox.filter(pk=notification_id).exists():
        raise NotificationNotFound()
    inbox.filter(pk=notification_id, read_at__isnull=True).update(read_at=timezone.now())
    return to_dto(inbox.get(pk=notification_id))


@transaction.atomic
def notifications_mark_all_read(*, user_id: UUID) -> int:
    """Mark all the user's in-app notifications read. Returns how many were unread."""
    return Notification.objects.filter(
        user_id=user_id, channel=Channel.IN_APP, read_at__isnull=True
    ).update(read_at=timezone.now())


# -- sending email -------------------------------------------------------------------------------


def notification_send(
    *, notification_id: UUID, attempt: int | None = None
) -> NotificationDTO | None:
    """Make send attempt number ``attempt`` of a pending email: hand it to the mail server
    (the django-q2 task's body). Never raises.

    Runs outside any transaction: no lock is held while the mail server is talked to. Does
    nothing unless the notification is a pending email whose last attempt made is the one
    before this (``None``, a task queued before attempts were numbered: any attempt), and no
    other task holds it: so a task queued twice (the stalled sweep's copy of one that was
    only late) sends once, and does not make an attempt ahead of its retry's backoff.
    Publishes ``NotificationSent``, or ``NotificationFailed`` once
    ``NOTIFICATION_MAX_ATTEMPTS`` tries met an SMTP error (or at once for an error that
    trying again cannot fix); below that, schedules the next attempt. An order's earlier
    emails whose task was lost are sent before it.

    When the database fails under a step (a connection terminated, a server restarting), that
    step is run again on a new connection (``again_on_database_error``): the claim, or the
    recording of what the mail server said. Not the sending: the customer gets one email.
    """
    what = f"sending notification {notification_id}"
    lease_until = timezone.now() + timedelta(seconds=SEND_LEASE_SECONDS)
    claim = partial(_claim_for_send, notification_id, lease_until=lease_until, attempt=attempt)
    notification = again_on_database_error(claim, what=what)
    if notification is None:
        # Not ours to send: sent, failed, not an email, another task holds the lease, or the
        # attempt is not the next one (another task made it).
        current = again_on_database_error(partial(_find, notification_id), what=what)
        if current is None:
            logger.warning("notification %s does not exist; nothing to send", notification_id)
            return None
        return to_dto(current)
    if getattr(notification, "earlier_unsent", 0):
        _send_earlier_emails_of_order(notification)

    try:
        _email_message(notification).send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        again_on_database_error(partial(_send_unanswered, notification, _describe(exc)), what=what)
    except Exception as exc:  # the message itself is wrong: trying again would not help
        logger.exception("notification %s cannot be sent", notification.id)
        again_on_database_error(partial(_give_up, notification, _describe(exc)), what=what)
    else:
        if again_on_database_error(partial(_mark_sent, notification), what=what):
            logger.info("notification %s sent to %s", notification.id, notification.email)
            return to_dto(notification)
    return to_dto(
        again_on_database_error(partial(Notification.objects.get, pk=notification_id), what=what)
    )


def _find(notification_id: UUID) -> Notification | None:
    return Notification.objects.filter(pk=notification_id).first()


def _send_earlier_emails_of_order(notification: Notification) -> None:
    """An order's emails normally reach the customer in order. One whose task was lost (a
    broker flushed) would otherwise come from the stalled-email sweep up to 90 s later, after the
    order's later news: those the order has from before this one, never tried, are sent
    first, by this task. One tried before (waiting out an SMTP error, or whose worker died
    while the mail server may have taken it) is left to its retry or the sweep; one in
    another task's hands is that task's to send. Whatever becomes of them, this one is sent
    next."""
    earlier = (
        Notification.objects.filter(
            order_id=notification.order_id,
            channel=Channel.EMAIL,
            status=Status.PENDING,
            attempts=0,
            created_at__lt=notification.created_at,
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )
    what = f"sending the emails of order {notification.order_id} before {notification.id}"
    try:
        for earlier_id in again_on_database_error(lambda: list(earlier), what=what):
            logger.info(
                "sending notification %s first: it comes before %s", earlier_id, notification.id
            )
            notification_send(notification_id=earlier_id, attempt=1)
    except Exception:  # the database still down: they are the sweep's, and this one goes on
        logger.exception("notification %s: its order's earlier emails not sent", notification.id)


# One autocommit statement: takes the lease, counts the attempt, and returns the row if there
# is work. A second task for the same email (a stalled-send sweep racing the first) finds the
# lease taken, or its attempt made, and gets nothing, so the customer gets one email. Run again
# after its answer was lost with the connection, it finds its own lease (the same instant, to
# the microsecond) and takes it again without counting another attempt. Hand-written: it runs
# for every email, and the ORM would need an UPDATE and a SELECT.
_CLAIM_FOR_SEND_SQL = f"""
    UPDATE {Notification._meta.db_table}
       SET attempts = CASE WHEN lease_until = %(lease)s THEN attempts ELSE attempts + 1 END,
           lease_until = %(lease)s, updated_at = %(now)s
     WHERE id = %(id)s AND status = '{Status.PENDING}' AND channel = '{Channel.EMAIL}'
       AND (lease_until IS NULL OR lease_until < %(now)s OR lease_until = %(lease)s)
       {{only_attempt}}
 RETURNING *, (
    -- How many of the order's emails from before this one were never tried: nearly always
    -- none, found here for the price of an index lookup rather than a query of its own.
    SELECT count(*) FROM {Notification._meta.db_table} earlier
     WHERE earlier.order_id = {Notification._meta.db_table}.order_id
       AND earlier.channel = '{Channel.EMAIL}' AND earlier.status = '{Status.PENDING}'
       AND earlier.attempts = 0 AND earlier.created_at < {Notification._meta.db_table}.created_at
 ) AS earlier_unsent
"""


_CLAIM_ANY_ATTEMPT_SQL = _CLAIM_FOR_SEND_SQL.format(only_attempt="")
_CLAIM_ATTEMPT_SQL = _CLAIM_FOR_SEND_SQL.format(
    only_attempt="AND (attempts = %(attempt)s - 1 OR lease_until = %(lease)s)"
)


def _claim_for_send(
    notification_id: UUID, *, lease_until: datetime, attempt: int | None
) -> Notification | None:
    ops = connection.ops
    params = {
        "lease": ops.adapt_datetimefield_value(lease_until),
        "now": ops.adapt_datetimefield_value(timezone.now()),
        "id": db_value(Notification, "id", notification_id),
        "attempt": attempt,
    }
    sql = _CLAIM_ANY_ATTEMPT_SQL if attempt is None else _CLAIM_ATTEMPT_SQL
    return next(iter(fetch_models(Notification, sql, params)), None)


@transaction.atomic
def _mark_sent(notification: Notification) -> bool:
    """Record the email as sent (and publish it), unless it stopped being pending meanwhile."""
    now = timezone.now()
    changes = {"status": Status.SENT, "sent_at": now, "last_error": "", "lease_until": None}
    if not update_if(notification, {**changes, "updated_at": now}, status=Status.PENDING):
        return False
    _publish_sent(notification)
    return True


def _email_message(notification: Notification) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=notification.body_text,
        from_email=_from_email(),
        to=[notification.email],
        headers={"X-Notification-Id": str(notification.id)},
    )
    if notification.body_html:
        message.attach_alternative(notification.body_html, "text/html")
    return message


def _from_email() -> str:
    conf = notification_settings()
    if "<" in conf.from_email:
        return conf.from_email
    # "Example Shop <shop@example.com>": the store's name as the sender the customer sees.
    return formataddr((conf.store_name, conf.from_email))


def _send_unanswered(notification: Notification, error: str) -> None:
    conf = notification_settings()
    attempt = notification.attempts
    logger.warning(
        "sending notification %s failed (attempt %d of %d): %s",
        notification.id,
        attempt,
        conf.max_attempts,
        error,
    )
    with transaction.atomic():
        if attempt >= conf.max_attempts:
            _give_up(notification, error)
            return
        retry_at = timezone.now() + timedelta(seconds=retry_delay_seconds(attempt))
        Notification.objects.filter(pk=notification.pk, status=Status.PENDING).update(
            last_error=error, lease_until=None, updated_at=timezone.now()
        )
        # In the same transaction as the error: the retry exists if and only if it commits.
        _cancel_retries(notification.pk)
        schedule_task_once(
            name=f"notifications: send {notification.id} attempt {attempt + 1}",
            func=SEND_TASK,
            args=(str(notification.id), str(attempt + 1)),
            run_at=retry_at,
        )


@transaction.atomic(savepoint=False)
def _give_up(notification: Notification, error: str) -> None:
    failed = Notification.objects.filter(pk=notification.pk, status=Status.PENDING).update(
        status=Status.FAILED, last_error=error, lease_until=None, updated_at=timezone.now()
    )
    if failed:
        notification.refresh_from_db()
        _publish_failed(notification)
        logger.error("notification %s failed for good: %s", notification.id, error)


def retry_delay_seconds(attempt: int) -> float:
    conf = notification_settings()
    return backoff_seconds(attempt, base=conf.retry_base_seconds, cap=conf.retry_max_seconds)


def _cancel_retries(notification_id: UUID) -> None:
    cancel_scheduled(SEND_TASK, str(notification_id))


def _enqueue_send(notification_id: UUID, attempt: int = 1) -> None:
    """Queue send attempt ``attempt`` (the first, unless the sweep finds one tried before)."""
    queue_task(
        SEND_TASK,
        str(notification_id),
        str(attempt),
        name=f"send notification {notification_id} ({attempt})",
    )


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:2000]


# -- operators ----------------------------------------------------------------------------------


@transaction.atomic
def notification_resend(*, notification_id: UUID) -> NotificationDTO:
    """Staff: send a notification again, as if it were new (the admin's "Resend" action).

    Renders it again if its template had failed (after the shop fixed it). An email goes
    back to ``pending`` with fresh attempts and is queued after commit; one that is pending
    already is left alone (it is on its way). Publishes ``NotificationSent`` for an in-app
    message, or ``NotificationFailed`` if its template fails again.
    """
    notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
    if notification is None:
        raise NotificationNotFound()
    if notification.status == Status.PENDING:
        return to_dto(notification)
    if not notification.body_text:  # its template had failed
        try:
            _fill(notification, _render(notification.kind, notification.channel, notification))
        except RenderFailed as exc:
            notification.last_error = str(exc)
            notification.save(update_fields=["last_error", "updated_at"])
            _publish_failed(notification)
            return to_dto(notification)
    notification.attempts = 0
    notification.last_error = ""
    notification.lease_until = None
    if notification.channel == Channel.IN_APP:
        notification.status = Status.SENT
        notification.sent_at = timezone.now()
        notification.save()
        _publish_sent(notification)
    else:
        notification.status = Status.PENDING
        notification.save()
        _cancel_retries(notification.pk)
        transaction.on_commit(partial(_enqueue_send, notification.pk), robust=True)
    return to_dto(notification)


def notifications_resume_stalled(*, older_than_seconds: float | None = None) -> int:
    """Queue the send again for pending emails nobody is working on. Returns how many.

    The send is queued after the notification commits; a crash in between, or a lost broker
    message, would leave it pending for ever. A notification is stalled when it has been
    pending and untouched for ``NOTIFICATION_STALL_SECONDS``, or, if no send was ever tried,
    for ``NOTIFICATION_QUEUED_STALL_SECONDS`` (``older_than_seconds`` stands for both), and
    no retry is scheduled. Sending is claimed per attempt, so a task queued twice sends once:
    an email never tried can be queued again early, as its lost or late task and the new one
    cannot both send it. One tried waits longer, as its worker may still be at the mail server.
    """
    conf = notification_settings()
    cutoff, queued_cutoff = stall_cutoffs(
        older_than_seconds=older_than_seconds,
        stall_seconds=conf.stall_seconds,
        queued_stall_seconds=conf.queued_stall_seconds,
    )
    # Oldest first: emails lost together (a broker flushed) are queued in the order they were
    # written, an order's "received" before its "paid" (two workers may still swap them).
    stalled = Notification.objects.filter(
        Q(updated_at__lt=cutoff) | Q(attempts=0, updated_at__lt=queued_cutoff),
        status=Status.PENDING,
        channel=Channel.EMAIL,
    ).order_by("created_at", "id")
    retrying = scheduled_for(SEND_TASK)
    resumed = 0
    for notification_id, attempts in stalled.values_list("pk", "attempts"):
        if str(notification_id) in retrying:
            continue
        logger.warning("notification %s was stalled; sending it again", notification_id)
        _enqueue_send(notification_id, attempts + 1)
        resumed += 1
    return resumed


# -- recording notifications ---------------------------------------------------------------------


def _notify(
    *,
    kind: str,
    source_event_id: UUID,
    context: dict[str, Any],
    email: str,
    user_id: UUID | None,
    order_id: UUID | None = None,
    product_id: UUID | None = None,
) -> list[NotificationDTO]:
    """Record the email (when there is an address) and the in-app message (when there is a
    user) for one event and recipient, unless they exist already. Returns the new ones."""
    common: dict[str, Any] = {
        "kind": kind,
        "source_event_id": source_event_id,
        "context": context,
        "order_id": order_id,
        "product_id": product_id,
    }
    # The account may be gone (deleted since, or kept by another service when split): the
    # email still goes to the address, unlinked; only the in-app message needs the user.
    has_user = user_id is not None and get_user_model().objects.filter(pk=user_id).exists()
    created = []
    if email:
        created.append(
            _record(
                channel=Channel.EMAIL,
                recipient=email.strip().lower(),
                email=email.strip(),
                user_id=user_id if has_user else None,
                **common,
            )
        )
    if has_user:
        created.append(
            _record(channel=Channel.IN_APP, recipient=str(user_id), user_id=user_id, **common)
        )
    return [to_dto(n) for n in created if n is not None]


def _record(
    *, channel: str, recipient: str, kind: str, source_event_id: UUID, **fields: Any
) -> Notification | None:
    """Create the notification unless this event already made it (rendered first: an event
    is almost always new); then deliver or queue it."""
    key = {
        "source_event_id": source_event_id,
        "kind": kind,
        "channel": channel,
        "recipient": recipient,
    }
    notification = Notification(**key, **fields)
    try:
        _fill(notification, _render(kind, channel, notification))
    except RenderFailed as exc:
        notification.status = Status.FAILED
        notification.last_error = str(exc)
        logger.error("notification %s to %s not rendered: %s", kind, recipient, exc)
    else:
        if channel == Channel.IN_APP:
            notification.status = Status.SENT
            notification.sent_at = timezone.now()
    if not insert_unless_exists(notification, unique_fields=list(key)):
        # This event made it already (a redelivery, or the same event in another worker at
        # once): that one is sent or on its way.
        return None
    if notification.status == Status.FAILED:
        _publish_failed(notification)
    elif notification.status == Status.SENT:
        _publish_sent(notification)
    else:
        transaction.on_commit(partial(_enqueue_send, notification.pk), robust=True)
    return notification


def _render(kind: str, channel: str, notification: Notification) -> Rendered:
    if channel == Channel.IN_APP:
        return render_in_app(kind, notification.context)
    return render_email(kind, notification.context)


def _fill(notification: Notification, rendered: Rendered) -> None:
    notification.subject = rendered.subject
    notification.body_text = rendered.text
    notification.body_html = rendered.html


def _publish_sent(notification: Notification) -> None:
    publish(
        NotificationSent(
            notification_id=notification.id,
            kind=notification.kind,
            channel=notification.channel,
            source_event_id=notification.source_event_id,
            attempts=notification.attempts,
        )
    )


def _publish_failed(notification: Notification) -> None:
    publish(
        NotificationFailed(
            notification_id=notification.id,
            kind=notification.kind,
            channel=notification.channel,
            source_event_id=notification.source_event_id,
            attempts=notification.attempts,
            error=notification.last_error,
        )
    )


# -- small reads ----------------------------------------------------------------------------------


def _order_received_context(order_id: UUID) -> dict[str, Any] | None:
    return (
        Notification.objects.filter(order_id=order_id, kind=Kind.ORDER_RECEIVED)
        .order_by("created_at")
        .values_list("context", flat=True)
        .first()
    )


def _order_lines(order_id: UUID) -> list[dict[str, Any]]:
    """The order's lines as the order-received message recorded them, or none."""
    return list((_order_received_context(order_id) or {}).get("lines", []))


def _order_user(order_id: UUID) -> UUID | None:
    """The user this shop told about the order, if it was a signed-in customer's."""
    return (
        Notification.objects.filter(order_id=order_id, user__isnull=False)
        .order_by("created_at")
        .values_list("user_id", flat=True)
        .first()
    )


def _product_or_none(product_id: UUID) -> products.ProductDTO | None:
    try:
        return products.product_get(product_id=product_id)
    except products.ProductNotFound:
        return None


def _money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))
