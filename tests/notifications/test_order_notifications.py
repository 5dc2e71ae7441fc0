"""What the customer hears about an order: received, paid, payment failed, refunded.

The bus is eager and django-q2 runs tasks inline, so a published event's emails are in the
outbox when the publishing transaction has committed.
"""

from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from django.core import mail
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.cart.events import CartExpired, CartPaid, CartPaymentFailed
from apps.notifications.models import Notification
from apps.payments.events import PaymentRefunded
from ecommerce.accounts.models import User
from ecommerce.bus import operations
from ecommerce.bus.models import Delivery, OutboxEvent
from ecommerce.bus.registry import subscribers_of
from ecommerce.bus.relay import Relay
from tests.notifications.conftest import checkout_event, deliver, notifications, sent_mail

pytestmark = pytest.mark.django_db(transaction=True)


def html_of(message: mail.EmailMessage) -> str:
    assert isinstance(message, mail.EmailMultiAlternatives)
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(html)


def replay(subscriber: str) -> None:
    """Deliver the subscriber's events once more, as an operator's replay does."""
    assert operations.replay(operations.ReplaySlice(subscriber=subscriber)) >= 1
    Relay().drain()


# -- order received ------------------------------------------------------------------------------


def test_a_checkout_emails_the_order_with_its_lines_and_total() -> None:
    checkout = deliver(checkout_event())

    assert notifications() == [("order_received", "email", "ann@example.com", "sent")]
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert message.from_email == "Example Shop <shop@localhost>"
    assert message.subject == "Example Shop: we received your order"
    assert f"Order {checkout.cart_id}" in message.body
    assert "  2 x Mug (MUG-1) at 12.50 EUR = 25.00 EUR\n" in message.body
    assert "  1 x Tea & Biscuits (TEA-7) at 4.25 EUR = 4.25 EUR\n" in message.body
    assert "Total: 29.25 EUR" in message.body
    html = html_of(message)
    assert "Tea &amp; Biscuits" in html
    assert "<strong>Total: 29.25 EUR</strong>" in html
    assert "Example Shop" in html


def test_a_signed_in_customer_also_finds_the_order_in_the_app(ann: User) -> None:
    deliver(checkout_event(user_id=ann.pk))

    assert notifications() == [
        ("order_received", "email", "ann@example.com", "sent"),
        ("order_received", "in_app", str(ann.pk), "sent"),
    ]
    in_app = Notification.objects.get(channel="in_app")
    assert (in_app.user_id, in_app.subject, in_app.body_text, in_app.read_at) == (
        ann.pk,
        "Example Shop: we received your order",
        "We received your order of 29.25 EUR and are taking the payment.",
        None,
    )
    assert len(mail.outbox) == 1


def test_a_customer_whose_account_is_gone_still_gets_the_email(ann: User) -> None:
    """Deleted since checkout, or kept by another service's database when split."""
    user_id = ann.pk
    ann.delete()

    deliver(checkout_event(user_id=user_id))

    assert Delivery.objects.get(subscriber="notifications.order_received").status == "delivered"
    assert notifications() == [("order_received", "email", "ann@example.com", "sent")]
    assert Notification.objects.get().user_id is None
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


def test_the_store_name_comes_from_settings(settings: SettingsWrapper) -> None:
    settings.STORE_NAME = "Corner Shop"
    settings.DEFAULT_FROM_EMAIL = "orders@corner.example"

    deliver(checkout_event())

    [message] = mail.outbox
    assert message.subject == "Corner Shop: we received your order"
    assert message.from_email == "Corner Shop <orders@corner.example>"
    assert "Corner Shop" in html_of(message)


def test_the_same_checkout_delivered_twice_notifies_once(ann: User) -> None:
    deliver(checkout_event(user_id=ann.pk))

    replay("notifications.order_received")

    assert len(notifications()) == 2
    assert len(mail.outbox) == 1
    assert Delivery.objects.get(subscriber="notifications.order_received").status == "delivered"


def test_an_outcome_is_published_for_each_notification(ann: User) -> None:
    deliver(checkout_event(user_id=ann.pk))

    sent = OutboxEvent.objects.filter(event_type="notifications.NotificationSent")
    assert sorted((e.payload["channel"], e.payload["attempts"]) for e in sent) == [
        ("email", 1),
        ("in_app", 0),
    ]


# -- payment confirmed ---------------------------------------------------------------------------


def paid_event(cart_id: UUID, user_id: UUID | None = None) -> CartPaid:
    return CartPaid(
        cart_id=cart_id,
        user_id=user_id,
        email="ann@example.com",
        payment_id=uuid4(),
        total=Decimal("29.25"),
        currency="EUR",
    )


def test_a_paid_order_gets_one_receipt_with_its_lines(ann: User) -> None:
    checkout = deliver(checkout_event(user_id=ann.pk))
    paid = deliver(paid_event(checkout.cart_id, ann.pk))

    assert notifications(kind="payment_confirmed") == [
        ("payment_confirmed", "email", "ann@example.com", "sent"),
        ("payment_confirmed", "in_app", str(ann.pk), "sent"),
    ]
    assert sent_mail() == [
        (["ann@example.com"], "Example Shop: we received your order"),
        (["ann@example.com"], "Example Shop: payment confirmed, your receipt"),
    ]
    receipt = mail.outbox[1]
    assert "We received your payment of 29.25 EUR" in receipt.body
    assert "  2 x Mug (MUG-1) at 12.50 EUR = 25.00 EUR\n" in receipt.body
    assert "Paid: 29.25 EUR" in receipt.body
    assert f"Payment reference: {paid.payment_id}" in receipt.body
    assert "<strong>Paid: 29.25 EUR</strong>" in html_of(receipt)

    replay("notifications.payment_confirmed")

    assert len(mail.outbox) == 2
    assert Notification.objects.filter(kind="payment_confirmed").count() == 2


def lose_the_send_task(kind: str) -> None:
    """As if the email's task had been lost before it ran (a broker flushed): pending, never
    tried, and the message never sent."""
    Notification.objects.filter(kind=kind, channel="email").update(
        status="pending", attempts=0, sent_at=None
    )
    mail.outbox[:] = [m for m in mail.outbox if m.subject != RECEIVED_SUBJECT]


RECEIVED_SUBJECT = "Example Shop: we received your order"


def test_an_order_email_whose_task_was_lost_is_sent_before_the_orders_next_one() -> None:
    checkout = deliver(checkout_event())
    lose_the_send_task("order_received")

    deliver(paid_event(checkout.cart_id))

    assert sent_mail() == [
        (["ann@example.com"], RECEIVED_SUBJECT),
        (["ann@example.com"], "Example Shop: payment confirmed, your receipt"),
    ]
    received = Notification.objects.get(kind="order_received")
    assert (received.status, received.attempts) == ("sent", 1)


@pytest.mark.parametrize(
    "last_error",
    [
        "SMTPDataError: (451, b'try again later')",  # waiting out its backoff
        "",  # its worker died mid-send: the mail server may have it; the sweep decides
    ],
)
def test_an_earlier_email_tried_before_is_left_to_its_retry_or_the_sweep(last_error: str) -> None:
    checkout = deliver(checkout_event())
    lose_the_send_task("order_received")
    Notification.objects.filter(kind="order_received").update(attempts=1, last_error=last_error)

    deliver(paid_event(checkout.cart_id))

    assert sent_mail() == [(["ann@example.com"], "Example Shop: payment confirmed, your receipt")]
    assert Notification.objects.get(kind="order_received").status == "pending"


def test_another_orders_lost_email_is_not_sent_with_this_ones() -> None:
    deliver(checkout_event(email="bob@example.com"))
    lose_the_send_task("order_received")
    checkout = deliver(checkout_event())
    mail.outbox.clear()

    deliver(paid_event(checkout.cart_id))

    assert sent_mail() == [(["ann@example.com"], "Example Shop: payment confirmed, your receipt")]
    assert notifications(email="bob@example.com") == [
        ("order_received", "email", "bob@example.com", "pending")
    ]


def test_the_payment_events_themselves_notify_nobody() -> None:
    """One source per outcome: the order's events. A payment's are the cart's business."""
    for event_type in ("payments.PaymentSucceeded", "payments.PaymentFailed"):
        names = [s.name for s in subscribers_of(event_type)]
        assert not [n for n in names if n.startswith("notifications.")]


# -- payment failed ------------------------------------------------------------------------------


def failed_event(
    cart_id: UUID, failure_code: str, user_id: UUID | None = None
) -> CartPaymentFailed:
    return CartPaymentFailed(
        cart_id=cart_id,
        user_id=user_id,
        email="ann@example.com",
        payment_id=uuid4(),
        failure_code=failure_code,
        total=Decimal("29.25"),
        currency="EUR",
    )


def test_a_declined_payment_tells_why_and_what_to_do(ann: User) -> None:
    checkout = deliver(checkout_event(user_id=ann.pk))
    deliver(failed_event(checkout.cart_id, "payment_declined", ann.pk))

    [_, message] = mail.outbox
    assert message.subject == "Example Shop: your payment did not go through"
    assert (
        "We could not take the payment of 29.25 EUR for your order. "
        "Your card issuer declined the payment." in message.body
    )
    assert "place the order again" in message.body
    assert "Nothing was charged" in message.body
    in_app = Notification.objects.get(kind="payment_failed", channel="in_app")
    assert in_app.body_text == (
        "Your payment of 29.25 EUR did not go through: Your card issuer declined the payment. "
        "Please place the order again."
    )

    replay("notifications.payment_failed")

    assert len(mail.outbox) == 2


@pytest.mark.parametrize(
    ("failure_code", "reason"),
    [
        (
            "gateway_unavailable",
            "We could not confirm the payment with our payment provider; if you were charged, "
            "the money will be refunded automatically.",
        ),
        (
            "order_expired",
            "The time to pay for the order ran out; if you were charged, "
            "the money will be refunded automatically.",
        ),
    ],
)
def test_a_failure_that_may_have_charged_promises_a_refund_not_that_nothing_was_taken(
    failure_code: str, reason: str
) -> None:
    deliver(failed_event(uuid4(), failure_code))

    [message] = mail.outbox
    assert reason in message.body
    assert "Nothing was charged" not in message.body
    assert "no money was taken" not in message.body
    assert "The items we had put aside are back on sale." in message.body
    assert reason in message.alternatives[0][0]
    assert "Nothing was charged" not in message.alternatives[0][0]


FAILED_SUBJECT = "Example Shop: your payment did not go through"


def test_an_order_that_expired_unpaid_tells_the_customer_once(ann: User) -> None:
    checkout = deliver(checkout_event(user_id=ann.pk))
    expired = CartExpired(
        cart_id=checkout.cart_id,
        user_id=ann.pk,
        email="ann@example.com",
        total=Decimal("29.25"),
        currency="EUR",
    )

    deliver(expired)
    replay("notifications.order_expired")

    [message] = [m for m in mail.outbox if m.subject == FAILED_SUBJECT]
    assert "We could not take the payment of 29.25 EUR for your order." in message.body
    assert "The time to pay for the order ran out; if you were charged" in message.body
    assert "Nothing was charged" not in message.body
    assert "To get them, place the order again." in message.body
    assert "your bank" not in message.body
    assert "your bank" not in message.alternatives[0][0]
    assert notifications(kind="payment_failed") == [
        ("payment_failed", "email", "ann@example.com", "sent"),
        ("payment_failed", "in_app", str(ann.pk), "sent"),
    ]


def test_an_expiry_published_without_its_total_takes_the_order_as_received() -> None:
    checkout = deliver(checkout_event())  # 29.25 EUR
    deliver(CartExpired(cart_id=checkout.cart_id, user_id=None, email="ann@example.com"))

    [message] = [m for m in mail.outbox if m.subject == FAILED_SUBJECT]
    assert "We could not take the payment of 29.25 EUR for your order." in message.body


def test_an_expiry_of_an_order_never_announced_sends_nothing() -> None:
    deliver(CartExpired(cart_id=uuid4(), user_id=None, email="ann@example.com"))

    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_an_invalid_payment_token_reads_as_the_gateway_names_it() -> None:
    deliver(failed_event(uuid4(), "invalid_payment_token"))

    [message] = mail.outbox
    assert "The payment details could not be read." in message.body
    assert "Nothing was charged" in message.body


def test_an_unknown_failure_code_still_reads_well() -> None:
    deliver(failed_event(uuid4(), "something_new"))

    [message] = mail.outbox
    assert "The payment could not be completed." in message.body
    assert "something_new" not in message.body


# -- refunds -------------------------------------------------------------------------------------


def refunded_event(cart_id: UUID) -> PaymentRefunded:
    return PaymentRefunded(
        payment_id=uuid4(),
        cart_id=cart_id,
        amount=Decimal("29.25"),
        currency="EUR",
        email="ann@example.com",
    )


def test_a_refund_is_announced_by_email_and_in_the_app_of_the_customer_who_ordered(
    ann: User,
) -> None:
    checkout = deliver(checkout_event(user_id=ann.pk))
    refund = deliver(refunded_event(checkout.cart_id))

    assert notifications(kind="refund_issued") == [
        ("refund_issued", "email", "ann@example.com", "sent"),
        ("refund_issued", "in_app", str(ann.pk), "sent"),
    ]
    message = mail.outbox[-1]
    assert message.subject == "Example Shop: your refund is on its way"
    assert f"We refunded 29.25 EUR for order {checkout.cart_id}." in message.body
    assert f"Payment reference: {refund.payment_id}" in message.body

    replay("notifications.refund_issued")

    assert len(mail.outbox) == 2


def test_a_refund_to_an_anonymous_customer_is_an_email_only() -> None:
    deliver(refunded_event(uuid4()))

    assert notifications() == [("refund_issued", "email", "ann@example.com", "sent")]
    assert len(mail.outbox) == 1


def test_a_customer_who_had_in_app_notifications_can_still_delete_their_account(
    ann: User,
) -> None:
    # Every signed-in order leaves an in-app notification; its row must not block deleting
    # the account (the admin's delete, for one).
    deliver(checkout_event(user_id=ann.pk))
    ann_id = str(ann.pk)
    assert ("order_received", "in_app", ann_id, "sent") in notifications()

    ann.delete()

    assert not User.objects.filter(email="ann@example.com").exists()
    left = Notification.objects.values_list("channel", "user_id", "recipient")
    assert sorted(left) == [("email", None, "ann@example.com"), ("in_app", None, ann_id)]
