"""Products's persistence: categories and products."""

import uuid

from django.core.validators import MinValueValidator
from django.db import models


class Category(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")),
                name="products_category_not_own_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_within(self, category: "Category") -> bool:
        """Whether this is ``category`` or one of its subcategories: under it, ``category``
        would sit under itself."""
        ancestor: Category | None = self
        seen = set()
        while ancestor is not None:  # categories are few and shallow
            if ancestor.pk == category.pk or ancestor.pk in seen:
                return True  # (a loop already there, from two moves at once: refuse too)
            seen.add(ancestor.pk)
            ancestor = ancestor.parent
        return False


class ProductStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    DISCONTINUED = "discontinued", "Discontinued"


class Product(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    # The store currency when the product was created; prices are never converted.
    currency = models.CharField(max_length=3, editable=False)
    status = models.CharField(
        max_length=16, choices=ProductStatus.choices, default=ProductStatus.ACTIVE
    )
    image_url = models.URLField("image URL", max_length=500, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="products"
    )
    # Whether inventory has units available, for the list's ``in_stock`` filter: kept in step
    # by inventory's ``OutOfStock`` and ``BackInStock`` (products_refresh_in_stock), so it
    # lags a stock change by the relay's delay. The API's item reads stock live.
    in_stock = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="products_product_price_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ProductStatus.values),
                name="products_product_status_valid",
            ),
        ]
        # The storefront lists active products ordered by one of these; staff lists filter by
        # status too, so status leads every index.
        indexes = [
            models.Index(fields=["status", "-created_at"], name="products_status_created_idx"),
            models.Index(fields=["status", "price"], name="products_status_price_idx"),
            models.Index(fields=["status", "name"], name="products_status_name_idx"),
            # The admin's list, by name whatever the status.
            models.Index(fields=["name", "id"], name="products_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"
