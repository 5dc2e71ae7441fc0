from decimal import Decimal
from uuid import uuid4

import factory

from apps.payments.models import Payment


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    cart_id = factory.LazyFunction(uuid4)
    user_id = None
    email = "shopper@example.com"
    amount = Decimal("25.00")
    currency = "EUR"
    status = Payment.Status.PENDING
    gateway = "fake"
    payment_token = "tok_ok"
    idempotency_key = factory.LazyAttribute(lambda p: f"charge:{p.cart_id}:{uuid4()}")
    gateway_reference = ""
    attempts = 0

    class Params:
        succeeded = factory.Trait(
            status=Payment.Status.SUCCEEDED,
            gateway_reference=factory.LazyFunction(lambda: f"fake_ch_{uuid4().hex}"),
            attempts=1,
        )
        failed = factory.Trait(
            status=Payment.Status.FAILED, failure_code="payment_declined", attempts=1
        )
