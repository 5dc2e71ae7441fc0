"""Reads the API and the admin serve: the product list with its filters, and categories."""

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

import django_filters  # type: ignore[import-untyped]
from django import forms
from django.db import connection
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ErrorDetail, ValidationError

from apps.products.models import Category, Product, ProductStatus
from ecommerce.common.db import db_value, fetch_models
from ecommerce.common.fields import PLAIN_DECIMAL


class _TrueOrFalse(forms.Field):
    """true/false (1/0, any case); absent is no filter. Anything else is refused, where
    Django's NullBooleanField reads it as absent: ``in_stock=maybe`` listed everything."""

    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class _BooleanFilter(django_filters.BooleanFilter):
    field_class = _TrueOrFalse


class _PlainDecimal(forms.DecimalField):
    """A price as ASCII digits: Django's reads ``"1e2"``, ``"1_0"`` and other scripts' digits."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and not PLAIN_DECIMAL.fullmatch(value):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class _PriceFilter(django_filters.NumberFilter):
    field_class = _PlainDecimal


class ProductFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", max_length=100)
    category = django_filters.CharFilter(method="filter_category", max_length=100)
    min_price = _PriceFilter(field_name="price", lookup_expr="gte", min_value=0)
    max_price = _PriceFilter(field_name="price", lookup_expr="lte", min_value=0)
    # Units available now, by the flag inventory's events keep (``Product.in_stock``);
    # false is no filter, as absent.
    in_stock = _BooleanFilter(method="filter_in_stock")
    status = django_filters.ChoiceFilter(choices=ProductStatus.choices)
    ordering = django_filters.OrderingFilter(
        fields=(("price", "price"), ("name", "name"), ("created_at", "created_at"))
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(sku__icontains=value) | Q(description__icontains=value)
        )

    def filter_category(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet:
        return queryset.filter(category_id__in=category_subtree_ids(slug=value))

    def filter_in_stock(self, queryset: QuerySet[Product], name: str, value: bool) -> QuerySet:
        return queryset.filter(in_stock=True) if value else queryset

    def filter_queryset(self, queryset: QuerySet[Product]) -> QuerySet[Product]:
        queryset = super().filter_queryset(queryset)
        # A stable order for pagination: equal prices or names must not swap between pages.
        return queryset.order_by(*queryset.query.order_by, "id")


def has_list_filters(params: Mapping[str, Any]) -> bool:
    """Whether the query asks for any filter or ordering (page parameters aside)."""
    return any(name in ProductFilter.base_filters for name in params)


# Products with their category's slug beside them (``category_slug``), as the DTOs want them.
_WITH_CATEGORY_SLUG = (
    f"SELECT p.*, c.slug AS category_slug FROM {Product._meta.db_table} p"
    f" LEFT JOIN {Category._meta.db_table} c ON c.id = p.category_id"
)


def products_by_id(product_ids: Collection[UUID]) -> list[Product]:
    """The products with these ids, whatever their status; unknown ids are left out.

    What other apps ask for on every cart change and checkout, so one hand-written statement,
    like the storefront's page below: building the ``select_related`` query with the ORM cost
    more than running it.
    """
    if not product_ids:
        return []
    placeholders = ", ".join(["%s"] * len(product_ids))
    params = [db_value(Product, "id", product_id) for product_id in product_ids]
    sql = f"{_WITH_CATEGORY_SLUG} WHERE p.id IN ({placeholders})"
    return fetch_models(Product, sql, params)


class NewestActiveProducts:
    """The storefront's default page (active products, newest first) as a sequence the
    paginator can count and slice.

    The catalog's hottest read, so it runs two hand-written statements (the count, and the
    page with each product's category slug) instead of the ORM building them again for
    every request; the ORM queryset of ``product_list`` gives the same rows in the same
    order, and a test holds them to it.
    """

    def __init__(self) -> None:
        self._count_sql = f"SELECT count(*) FROM {Product._meta.db_table} WHERE status = %s"
        self._page_sql = (
            f"{_WITH_CATEGORY_SLUG}"
            " WHERE p.status = %s ORDER BY p.created_at DESC, p.id LIMIT %s OFFSET %s"
        )

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(self._count_sql, [ProductStatus.ACTIVE.value])
            return int(cursor.fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[Product]:
        offset, stop = page.start or 0, page.stop
        params = [ProductStatus.ACTIVE.value, stop - offset, offset]
        return fetch_models(Product, self._page_sql, params)


def product_list(*, filters: Mapping[str, Any] | None = None, staff: bool = False) -> QuerySet:
    """Products for a list page, filtered by ``filters`` (query parameters, see
    ``ProductFilter``); newest first unless ``ordering`` says otherwise. Only active products
    for shoppers; staff see every status and may filter by it.

    Raises DRF's ``ValidationError`` (a 400 naming the parameter) for a malformed value.
    """
    queryset = Product.objects.select_related("category").order_by("-created_at", "id")
    if not staff:
        queryset = queryset.filter(status=ProductStatus.ACTIVE)
    filters = filters or {}
    if not has_list_filters(filters):
        # The storefront's plain "newest products" page: building a FilterSet (deep copies of
        # every filter and a form class per request) would be a good part of its cost.
        return queryset
    filterset = ProductFilter(data=filters, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(
            {
                name: [ErrorDetail(m, code=e.code or "invalid") for e in errors for m in e.messages]
                for name, errors in filterset.form.errors.as_data().items()
            }
        )
    return filterset.qs


def category_subtree_ids(*, slug: str) -> list[UUID]:
    """The ids of the category with ``slug`` and of every category below it, in one query.
    Empty for an unknown slug.
    """
    children: dict[UUID | None, list[UUID]] = {}
    root = None
    for pk, parent_id, category_slug in Category.objects.values_list("pk", "parent_id", "slug"):
        children.setdefault(parent_id, []).append(pk)
        if category_slug == slug:
            root = pk
    if root is None:
        return []
    subtree, seen, todo = [], set(), [root]
    while todo:
        pk = todo.pop()
        if pk in seen:  # a loop (moves at once made them before they took turns)
            continue
        seen.add(pk)
        subtree.append(pk)
        todo.extend(children.get(pk, ()))
    return subtree


def category_list() -> QuerySet[Category]:
    """Every category with its parent, by name."""
    return Category.objects.select_related("parent").order_by("name")
