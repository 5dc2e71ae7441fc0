"""Demo catalog: categories and about 200 products with stock, through the services.

Idempotent: categories are known by slug and products by SKU, so running it again creates
only what is missing (nothing, the second time).
"""

import random
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from apps.products import services
from apps.products.models import Category, Product
from ecommerce.common import arguments

# (slug, name, parent slug)
CATEGORIES = [
    ("electronics", "Electronics", None),
    ("audio", "Audio", "electronics"),
    ("computers", "Computers", "electronics"),
    ("phones", "Phones", "electronics"),
    ("home-kitchen", "Home & Kitchen", None),
    ("kitchen", "Kitchen", "home-kitchen"),
    ("furniture", "Furniture", "home-kitchen"),
    ("outdoors", "Outdoors", None),
    ("camping", "Camping", "outdoors"),
    ("cycling", "Cycling", "outdoors"),
    ("books", "Books", None),
    ("clothing", "Clothing", None),
]

# What each product category sells, and the price range of its goods.
GOODS: dict[str, tuple[list[str], int, int]] = {
    "audio": (["Headphones", "Speaker", "Earbuds", "Soundbar", "Turntable"], 19, 399),
    "computers": (["Laptop", "Keyboard", "Mouse", "Monitor", "Webcam"], 15, 1899),
    "phones": (["Phone Case", "Charger", "Power Bank", "Screen Protector", "Phone"], 5, 999),
    "kitchen": (
        ["Chef's Knife", "Frying Pan", "Kettle", "Cutting Board", "Coffee Grinder"],
        9,
        249,
    ),
    "furniture": (["Desk Lamp", "Bookshelf", "Armchair", "Side Table", "Desk Chair"], 25, 699),
    "camping": (["Tent", "Sleeping Bag", "Headlamp", "Camping Stove", "Backpack"], 12, 449),
    "cycling": (["Bike Light", "Helmet", "Bike Lock", "Saddle Bag", "Pump"], 9, 199),
    "books": (["Cookbook", "Field Guide", "Novel", "Atlas", "Sketchbook"], 8, 59),
    "clothing": (["Rain Jacket", "Wool Socks", "T-Shirt", "Fleece", "Cap"], 7, 229),
}
STYLES = ["Classic", "Compact", "Pro", "Everyday", "Lightweight", "Deluxe", "Eco", "Urban"]


class Command(BaseCommand):
    help = "Create the demo catalog (categories, about 200 products with stock) if missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--products",
            type=arguments.whole_number(0, 100_000),
            default=200,
            help="How many products (default: %(default)s).",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        existing = set(Category.objects.values_list("slug", flat=True))
        new_categories = 0
        for slug, name, parent in CATEGORIES:
            if slug not in existing:
                services.category_create(name=name, slug=slug, parent=parent)
                new_categories += 1

        demo = list(_demo_products(options["products"]))
        taken = set(
            Product.objects.filter(sku__in=[p["sku"] for p in demo]).values_list("sku", flat=True)
        )
        for product in demo:
            if product["sku"] not in taken:
                services.product_create(**product)
        self.stdout.write(
            f"Demo catalog: {new_categories} categories and {len(demo) - len(taken)} products "
            f"created; {len(existing)} categories and {len(taken)} products were there."
        )


def _demo_products(count: int) -> list[dict[str, Any]]:
    """The same products on every run: a fixed seed, SKUs numbered in order."""
    rng = random.Random(4)
    categories = list(GOODS)
    products = []
    for n in range(1, count + 1):
        category = categories[(n - 1) % len(categories)]
        goods, low, high = GOODS[category]
        noun = goods[(n - 1) // len(categories) % len(goods)]
        style = STYLES[(n - 1) // (len(categories) * len(goods)) % len(STYLES)]
        price = Decimal(rng.randint(low * 100, high * 100)) / 100
        # Some products sold out, so in_stock filters and back-in-stock have something to do.
        stock = 0 if n % 10 == 0 else rng.randint(1, 60)
        products.append(
            {
                "sku": f"DEMO-{n:04d}",
                "name": f"{style} {noun}",
                "price": price.quantize(Decimal("0.01")),
                "description": f"A {style.lower()} {noun.lower()} from our {category} range.",
                "category": category,
                "initial_stock": stock,
            }
        )
    return products
