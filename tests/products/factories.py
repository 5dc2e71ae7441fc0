"""Catalog rows for tests that need them as given state (no events, no stock).

Tests about the use cases themselves go through ``apps.products.services``.
"""

from decimal import Decimal

import factory
from django.conf import settings

from apps.products.models import Category, Product, ProductStatus


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    description = ""
    price = Decimal("10.00")
    currency = factory.LazyFunction(lambda: settings.STORE_CURRENCY)
    status = ProductStatus.ACTIVE
    category = None
