"""The plain data the products app hands out, and how a page of products gets its availability.

``apps.products.services`` re-exports the DTOs; other apps import them from there.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from apps.inventory import services as inventory
from apps.products.models import Category, Product


@dataclass(frozen=True, slots=True)
class ProductDTO:
    id: UUID
    sku: str
    name: str
    slug: str
    description: str
    price: Decimal
    currency: str
    category: str | None  # the category's slug
    status: str  # "draft" | "active" | "discontinued"
    image_url: str
    in_stock: bool
    available_quantity: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CategoryDTO:
    id: UUID
    name: str
    slug: str
    parent: str | None  # the parent category's slug


def category_to_dto(category: Category) -> CategoryDTO:
    parent = category.parent.slug if category.parent is not None else None
    return CategoryDTO(id=category.pk, name=category.name, slug=category.slug, parent=parent)


def _category_slug(product: Product) -> str | None:
    # Rows of the storefront's hand-written page query carry the slug beside the product.
    if hasattr(product, "category_slug"):
        return product.category_slug
    return product.category.slug if product.category is not None else None


def products_to_dtos(products: Iterable[Product]) -> list[ProductDTO]:
    """DTOs for ``products`` (with their categories selected), with availability from
    inventory fetched in one call for all of them. A product inventory does not know (its
    stock not created yet) has none available.
    """
    products = list(products)
    if not products:
        return []
    stock = inventory.stock_get_many(product_ids=[p.pk for p in products])
    dtos = []
    for product in products:
        level = stock.get(product.pk)
        available = level.available if level is not None else 0
        dtos.append(
            ProductDTO(
                id=product.pk,
                sku=product.sku,
                name=product.name,
                slug=product.slug,
                description=product.description,
                price=product.price,
                currency=product.currency,
                category=_category_slug(product),
                status=product.status,
                image_url=product.image_url,
                in_stock=available > 0,
                available_quantity=available,
                created_at=product.created_at,
                updated_at=product.updated_at,
            )
        )
    return dtos
