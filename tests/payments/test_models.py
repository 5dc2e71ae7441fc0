"""The database refuses payments that break the rules, whatever the code above it does."""

import pytest
from django.db import IntegrityError

from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"status": "lost"}, id="unknown status"),
        pytest.param({"amount": "-0.01"}, id="negative amount"),
        pytest.param({"status": "failed", "failure_code": ""}, id="failed without a code"),
        pytest.param({"status": "succeeded", "gateway_reference": ""}, id="charged, no reference"),
    ],
)
def test_a_payment_breaking_a_rule_is_refused_by_the_database(fields: dict[str, str]) -> None:
    with pytest.raises(IntegrityError):
        PaymentFactory(**fields)


def test_one_payment_per_cart() -> None:
    first = PaymentFactory()

    with pytest.raises(IntegrityError):
        PaymentFactory(cart_id=first.cart_id)
