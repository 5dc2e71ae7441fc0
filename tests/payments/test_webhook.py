"""POST /api/v1/payments/webhook: signed, fresh, and applied once per gateway event."""

import json
import time
from typing import Any
from uuid import UUID

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.payments.gateways import RefundResult, signing
from apps.payments.gateways.fake import FakeGateway
from apps.payments.models import Payment, PaymentEvent
from ecommerce.bus.models import OutboxEvent
from tests.cart.factories import make_product
from tests.e2e.test_checkout import checkout, shop, status_of, stock
from tests.payments.conftest import kinds, payment_of, published
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/payments/webhook"
SECRET = "whsec-test-secret"


@pytest.fixture(autouse=True)
def _secret(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYMENT_WEBHOOK_SECRET = SECRET


def body_for(payment: Payment, kind: str, event_id: str = "evt_1", **data: Any) -> bytes:
    message = {"id": event_id, "type": kind, "data": {"payment_id": str(payment.id), **data}}
    return json.dumps(message).encode()


def post(api: APIClient, body: bytes, signature: str | None) -> Any:
    headers = {"HTTP_X_SIGNATURE": signature} if signature is not None else {}
    return api.generic("POST", URL, body, content_type="application/json", **headers)


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])


def test_a_signed_charge_succeeded_settles_a_pending_payment(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json() == {"gateway_event_id": "evt_1", "result": "applied"}
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference) == ("succeeded", "fake_ch_1")
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]


def test_each_gateway_event_is_applied_once(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    first = post(api, body, signing.sign(body, secret=SECRET))
    again = post(api, body, signing.sign(body, secret=SECRET))

    assert first.json()["result"] == "applied"
    assert again.status_code == 200
    assert again.json() == {"gateway_event_id": "evt_1", "result": "duplicate"}
    assert len(published("payments.PaymentSucceeded")) == 1
    assert PaymentEvent.objects.filter(gateway_event_id="evt_1").count() == 1
    assert PaymentEvent.objects.filter(payment=payment, kind="succeeded").count() == 1


def test_a_charge_failed_fails_a_pending_payment_with_the_gateways_code(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.failed", failure_code="insufficient_funds")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.json()["result"] == "applied"
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")
    assert [p["failure_code"] for p in published("payments.PaymentFailed")] == [
        "insufficient_funds"
    ]


def test_a_failure_code_longer_than_the_shop_keeps_is_cut_to_it(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.failed", failure_code="card_" + "x" * 60)

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.json()["result"] == "applied"
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", ("card_" + "x" * 60)[:50])


@pytest.mark.parametrize("code", ["order_expired", "gateway_unavailable"])
def test_a_gateways_failure_code_that_spells_one_of_the_shops_still_ends_the_order(
    api: APIClient, code: str
) -> None:
    """The shop's own codes mean the order ended another way or the card was maybe never
    tried; a declined charge carrying one would leave the cart checked out for good."""
    mug = make_product(stock=3)
    shopper = APIClient()
    cart_id, _ = shop(shopper, mug, 1)
    assert checkout(shopper, cart_id, "tok_flaky").status_code == 202  # timed out: pending
    body = body_for(payment_of(UUID(cart_id)), "charge.failed", failure_code=code)

    assert post(api, body, signing.sign(body, secret=SECRET)).json()["result"] == "applied"

    assert payment_of(UUID(cart_id)).failure_code == "payment_declined"
    assert (status_of(shopper, cart_id), stock(mug)) == ("payment_failed", (3, 0, 3))


def test_a_charge_refunded_at_the_gateway_refunds_a_succeeded_payment(api: APIClient) -> None:
    payment = PaymentFactory(succeeded=True)
    body = body_for(payment, "charge.refunded", reference="fake_re_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.json()["result"] == "applied"
    payment.refresh_from_db()
    assert (payment.status, payment.refund_reference) == ("refunded", "fake_re_1")
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        pytest.param("refunded", "charge.refunded", id="refund of a refunded payment"),
        pytest.param("refunded", "charge.succeeded", id="charge of a refunded payment"),
        pytest.param("refunded", "charge.failed", id="failure of a refunded payment"),
        pytest.param("succeeded", "charge.failed", id="failure of a succeeded payment"),
        pytest.param("owed", "charge.succeeded", id="charge of a failed payment owed back"),
        pytest.param("pending", "charge.disputed", id="a type the shop does not act on"),
    ],
)
def test_an_event_that_can_never_fit_the_payments_state_is_recorded_and_ignored(
    api: APIClient, state: str, kind: str
) -> None:
    payment = {
        "refunded": lambda: PaymentFactory(
            succeeded=True, status="refunded", refund_reference="fake_re_0"
        ),
        "succeeded": lambda: PaymentFactory(succeeded=True),
        "owed": lambda: PaymentFactory(
            failed=True,
            failure_code="gateway_unavailable",
            gateway_reference="fake_ch_0",
            refund_owed_since=timezone.now(),
        ),
        "pending": lambda: PaymentFactory(),
    }[state]()
    before = (payment.status, payment.gateway_reference, payment.updated_at)
    body = body_for(payment, kind, reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET))
    again = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json() == {"gateway_event_id": "evt_1", "result": "ignored"}
    assert again.json() == {"gateway_event_id": "evt_1", "result": "duplicate"}
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference, payment.updated_at) == before
    assert list(PaymentEvent.objects.values_list("payment", "kind", "gateway_event_id")) == [
        (payment.id, "webhook", "evt_1")
    ]
    assert not OutboxEvent.objects.exists()


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("pending", id="pending: the charge call timed out"),
        pytest.param("failed", id="failed: we gave up on the gateway"),
    ],
)
def test_a_refund_of_a_charge_not_reported_yet_is_409_and_not_recorded(
    api: APIClient, state: str
) -> None:
    payment = (
        PaymentFactory(failed=True, failure_code="gateway_unavailable")
        if state == "failed"
        else PaymentFactory()
    )
    body = body_for(payment, "charge.refunded", "evt_2", reference="fake_ch_1")

    first = post(api, body, signing.sign(body, secret=SECRET))
    again = post(api, body, signing.sign(body, secret=SECRET))

    for response in (first, again):  # not recorded: a redelivery is not a "duplicate"
        assert response.status_code == 409
        assert response.json() == {
            "type": "client_error",
            "errors": [
                {
                    "code": "webhook_out_of_order",
                    "detail": "The event does not fit the payment's state yet (its charge has "
                    "not been reported); nothing was recorded. Send it again later.",
                    "attr": None,
                }
            ],
        }
    assert_nothing_changed(payment)


def test_a_refund_webhook_that_overtakes_its_charge_webhook_is_applied_when_sent_again(
    api: APIClient,
) -> None:
    payment = PaymentFactory()  # pending: the charge call timed out, a retry is scheduled
    refunded = body_for(payment, "charge.refunded", "evt_2", reference="fake_ch_1")
    succeeded = body_for(payment, "charge.succeeded", "evt_1", reference="fake_ch_1")

    early = post(api, refunded, signing.sign(refunded, secret=SECRET))
    charge = post(api, succeeded, signing.sign(succeeded, secret=SECRET))
    redelivered = post(api, refunded, signing.sign(refunded, secret=SECRET))
    once_more = post(api, refunded, signing.sign(refunded, secret=SECRET))

    assert (early.status_code, error_code(early)) == (409, "webhook_out_of_order")
    assert charge.json() == {"gateway_event_id": "evt_1", "result": "applied"}
    assert redelivered.json() == {"gateway_event_id": "evt_2", "result": "applied"}
    assert once_more.json() == {"gateway_event_id": "evt_2", "result": "duplicate"}
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference, payment.refund_reference) == (
        "refunded",
        "fake_ch_1",
        "fake_ch_1",
    )
    assert [p["payment_id"] for p in published("payments.PaymentSucceeded")] == [str(payment.id)]
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert list(
        PaymentEvent.objects.filter(payment=payment).values_list("kind", "gateway_event_id")
    ) == [("webhook", "evt_1"), ("succeeded", None), ("webhook", "evt_2"), ("refunded", None)]


class DecliningRefundsGateway(FakeGateway):
    def refund(self, **kwargs: Any) -> RefundResult:
        return RefundResult(reference="", succeeded=False, failure_code="charge_disputed")


def test_a_refund_made_by_hand_after_the_gateway_declined_the_owed_one_is_recorded(
    api: APIClient, settings: Any
) -> None:
    # The charge landed after the shop gave up: owed back, but the gateway declined the
    # refund for good, so a person refunds it at the gateway, which then reports it.
    settings.PAYMENT_GATEWAY = f"{__name__}.DecliningRefundsGateway"
    payment = PaymentFactory(failed=True, failure_code="gateway_unavailable")
    late = post(
        api,
        body := body_for(payment, "charge.succeeded", "evt_late", reference="ch_late"),
        signing.sign(body, secret=SECRET),
    )
    assert late.json()["result"] == "applied"
    payment.refresh_from_db()
    assert (payment.status, payment.refund_owed_since) == ("failed", None)

    refund = body_for(payment, "charge.refunded", "evt_refund", reference="re_by_hand")
    by_hand = post(api, refund, signing.sign(refund, secret=SECRET))

    assert (by_hand.status_code, by_hand.json()["result"]) == (200, "applied")
    payment.refresh_from_db()
    assert (payment.status, payment.refund_reference) == ("refunded", "re_by_hand")
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]


def test_the_refund_webhook_of_a_late_charge_owed_back_is_applied(api: APIClient) -> None:
    # The charge landed after the order expired; the gateway reports the refund we owed.
    payment = PaymentFactory(
        failed=True,
        failure_code="order_expired",
        gateway_reference="fake_ch_0",
        refund_owed_since=timezone.now(),
    )
    body = body_for(payment, "charge.refunded", reference="fake_re_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json() == {"gateway_event_id": "evt_1", "result": "applied"}
    payment.refresh_from_db()
    assert (payment.status, payment.refund_reference) == ("refunded", "fake_re_1")
    assert [p["payment_id"] for p in published("payments.PaymentRefunded")] == [str(payment.id)]
    assert kinds(payment) == ["webhook", "refunded"]


def test_an_event_about_an_unknown_payment_is_ignored(api: APIClient) -> None:
    payment = PaymentFactory.build()  # never saved
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert not PaymentEvent.objects.exists()


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("v1=abc", id="no timestamp"),
        pytest.param("t=1700000000", id="no signature"),
        pytest.param("garbage", id="garbage"),
        pytest.param(f"t={int(time.time())},v1=\u00e9", id="non-ascii signature"),
        pytest.param(f"t={int(time.time())},v1={'AB' * 32}", id="uppercase hex"),
        # str.isdigit() takes these, int() does not; the byte 0xB2 reaches Django as "²".
        pytest.param(f"t=\u00b2,v1={'a' * 64}", id="superscript timestamp"),
        pytest.param(f"t=1\u00b9\u00b2,v1={'a' * 64}", id="partly superscript timestamp"),
        pytest.param(f"t=1234567890123,v1={'a' * 64}", id="timestamp of 13 digits"),
    ],
)
def test_a_missing_or_malformed_signature_is_400_and_changes_nothing(
    api: APIClient, signature: str | None
) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signature)

    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert_nothing_changed(payment)


def test_a_signature_with_the_wrong_secret_is_400_and_changes_nothing(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret="not-the-secret"))

    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert_nothing_changed(payment)


def test_a_signature_over_another_body_is_400_and_changes_nothing(api: APIClient) -> None:
    payment = PaymentFactory()
    signed = body_for(payment, "charge.failed")
    sent = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, sent, signing.sign(signed, secret=SECRET))

    assert response.status_code == 400
    assert_nothing_changed(payment)


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_an_old_or_future_signature_is_400_even_when_the_hmac_is_right(
    api: APIClient, age: int
) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET, timestamp=int(time.time()) - age))

    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert_nothing_changed(payment)


def test_an_old_signature_with_its_time_rewritten_to_now_is_400_and_changes_nothing(
    api: APIClient,
) -> None:
    # A captured webhook replayed an hour later: the attacker can change t, not the HMAC.
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")
    captured = signing.compute(body, secret=SECRET, timestamp=int(time.time()) - 3600)

    response = post(api, body, f"t={int(time.time())},v1={captured}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_signature"
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference) == ("pending", "")
    assert not PaymentEvent.objects.exists()
    assert published("payments.PaymentSucceeded") == []


def test_a_signature_within_the_tolerance_is_accepted(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")

    response = post(api, body, signing.sign(body, secret=SECRET, timestamp=int(time.time()) - 250))

    assert response.status_code == 200


def test_one_of_several_signatures_matching_is_enough_for_secret_rotation(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded", reference="fake_ch_1")
    now = int(time.time())
    old = signing.compute(body, secret="the-old-secret", timestamp=now)
    new = signing.compute(body, secret=SECRET, timestamp=now)

    response = post(api, body, f"t={now},v1={old},v1={new}")

    assert response.status_code == 200


def test_a_signed_body_that_is_not_an_event_is_400_invalid_webhook(api: APIClient) -> None:
    payment = PaymentFactory()
    body = b'{"type": "charge.succeeded"}'

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 400
    assert error_code(response) == "invalid_webhook"
    assert_nothing_changed(payment)


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("nested too deeply", None),
        ("a lone surrogate in its id", {"id": "\ud800", "type": "charge.failed"}),
        ("a lone surrogate in its type", {"id": "evt_1", "type": "charge.\ud800"}),
        ("a lone surrogate in its reference", {"id": "evt_1", "reference": "ch_\ud800"}),
        ("a NUL in its id", {"id": "evt\u0000", "type": "charge.failed"}),
        ("a NUL in its type", {"id": "evt_1", "type": "charge.failed\u0000"}),
        ("a NUL in its reference", {"id": "evt_1", "reference": "ch_\u0000"}),
        ("a NUL in its failure code", {"id": "evt_1", "failure_code": "card_\u0000"}),
        ("an id longer than the shop keeps", {"id": "e" * 256, "type": "charge.failed"}),
        ("a reference longer than the shop keeps", {"id": "evt_1", "reference": "r" * 256}),
    ],
)
def test_a_signed_body_whose_text_the_shop_cannot_keep_is_400_invalid_webhook(
    api: APIClient, what: str, message: dict[str, str] | None
) -> None:
    payment = PaymentFactory()
    if message is None:
        body = b"[" * 100_000 + b"]" * 100_000
    else:
        # json.dumps writes them as a gateway would send them: \u escapes, not raw characters.
        fields = {"id": "evt_1", "type": "charge.succeeded", **message}
        data = {"payment_id": str(payment.id), "reference": fields.pop("reference", "ch_1")}
        if "failure_code" in fields:
            data["failure_code"] = fields.pop("failure_code")
        body = json.dumps({**fields, "data": data}).encode()

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 400, what
    assert error_code(response) == "invalid_webhook"
    assert_nothing_changed(payment)


def assert_nothing_changed(payment: Payment) -> None:
    before = (payment.status, payment.gateway_reference, payment.updated_at)
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_reference, payment.updated_at) == before
    assert not PaymentEvent.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_charge_succeeded_without_its_reference_is_400_invalid_webhook(api: APIClient) -> None:
    payment = PaymentFactory()
    body = body_for(payment, "charge.succeeded")

    response = post(api, body, signing.sign(body, secret=SECRET))

    assert response.status_code == 400
    assert error_code(response) == "invalid_webhook"
    assert_nothing_changed(payment)


def test_the_out_of_order_webhooks_of_a_timed_out_charge_give_the_stock_back(
    api: APIClient,
) -> None:
    """The reviewer's case, through checkout: the charge call timed out, the gateway charged
    and then refunded, and its webhooks arrive out of order."""
    mug = make_product(stock=10)
    shopper = APIClient()
    cart_id, _ = shop(shopper, mug, 2)
    assert checkout(shopper, cart_id, "tok_flaky").status_code == 202  # timed out: pending
    payment = payment_of(UUID(cart_id))
    assert (payment.status, stock(mug)) == ("pending", (10, 2, 8))
    refunded = body_for(payment, "charge.refunded", "evt_2", reference="fake_ch_1")
    succeeded = body_for(payment, "charge.succeeded", "evt_1", reference="fake_ch_1")

    early = post(api, refunded, signing.sign(refunded, secret=SECRET))
    assert (early.status_code, error_code(early)) == (409, "webhook_out_of_order")
    assert (payment_of(UUID(cart_id)).status, stock(mug)) == ("pending", (10, 2, 8))
    assert not PaymentEvent.objects.filter(gateway_event_id="evt_2").exists()

    assert post(api, succeeded, signing.sign(succeeded, secret=SECRET)).json()["result"] == (
        "applied"
    )
    assert (status_of(shopper, cart_id), stock(mug)) == ("paid", (8, 0, 8))

    redelivered = post(api, refunded, signing.sign(refunded, secret=SECRET))

    assert redelivered.json() == {"gateway_event_id": "evt_2", "result": "applied"}
    assert payment_of(UUID(cart_id)).status == "refunded"
    assert stock(mug) == (10, 0, 10)
    assert len(published("payments.PaymentSucceeded")) == 1
    assert [p["cart_id"] for p in published("payments.PaymentRefunded")] == [cart_id]
