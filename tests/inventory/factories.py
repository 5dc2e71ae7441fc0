import factory

from apps.inventory.models import Stock


class StockFactory(factory.django.DjangoModelFactory):
    """A stock row written directly, without a ledger: for reads. Tests of changes use the
    services (``stocked`` in conftest.py), so the ledger adds up."""

    class Meta:
        model = Stock

    product_id = factory.Faker("uuid4", cast_to=None)
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    on_hand = 10
    reserved = 0
    low_stock_threshold = 5
