"""Cart rows as given state, and catalog products made through the products app's services
(so that their stock exists too)."""

from decimal import Decimal
from typing import Any

import factory

from apps.cart.models import Cart, CartLine
from apps.cart.services import hash_token
from apps.products import services as products

TOKEN = "the-cart-secret"


class CartFactory(factory.django.DjangoModelFactory):
    """An anonymous open cart whose token is ``TOKEN`` (pass ``owner=`` for a user's)."""

    class Meta:
        model = Cart

    token_hash = factory.Sequence(lambda n: hash_token(f"{TOKEN}-{n}"))
    owner = None

    @classmethod
    def anonymous(cls, token: str = TOKEN, **kwargs: Any) -> Cart:
        return cls(token_hash=hash_token(token), **kwargs)


class CartLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CartLine

    cart = factory.SubFactory(CartFactory)
    product_id = factory.Faker("uuid4", cast_to=None)
    sku = factory.Sequence(lambda n: f"LINE-{n:05d}")
    name = factory.Sequence(lambda n: f"Line product {n}")
    unit_price = Decimal("10.00")
    quantity = 1


_skus = iter(range(1, 1_000_000))


def make_product(
    *, price: str = "10.00", stock: int = 10, status: str = "active", name: str | None = None
) -> products.ProductDTO:
    n = next(_skus)
    return products.product_create(
        sku=f"SKU-{n:05d}",
        name=name or f"Product {n}",
        price=Decimal(price),
        status=status,
        initial_stock=stock,
    )
