"""The catalog API: products and categories (API.md, "Catalog").

Everyone reads active products; staff read every product and write through the services.
"""

from decimal import Decimal
from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.inventory import services as inventory
from apps.products import selectors, services
from apps.products.dtos import products_to_dtos
from apps.products.models import Product, ProductStatus
from ecommerce.common.fields import PlainDecimalField, WholeNumberField
from ecommerce.common.money import money_str
from ecommerce.common.openapi import raises
from ecommerce.common.pagination import PAGE_PARAMETERS, PageNumberPagination, page_of
from ecommerce.common.parsers import KnownFieldsOnly, no_body
from ecommerce.common.permissions import StaffPermissions

MAX_PRICE = services.MAX_PRICE


class IsStaffOrReadOnly(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_staff)


def _is_staff(request: Request) -> bool:
    return bool(request.user and request.user.is_staff)


# -- output shared by several operations -------------------------------------------------------


class ProductListOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sku = serializers.CharField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    category = serializers.SlugField(allow_null=True, help_text="The category's slug.")
    status = serializers.ChoiceField(choices=ProductStatus.choices)
    in_stock = serializers.BooleanField()
    available_quantity = serializers.IntegerField()


class ProductDetailOutputSerializer(ProductListOutputSerializer):
    image_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


ProductPageOutputSerializer = page_of(ProductListOutputSerializer, "ProductPageOutputSerializer")


def product_list_item(dto: services.ProductDTO) -> dict[str, object]:
    """What ``ProductListOutputSerializer`` renders, built directly: the catalog page is the
    hottest read, and the serializer machinery was most of its cost for 20 items. A test
    keeps the two identical."""
    return {
        "id": str(dto.id),
        "sku": dto.sku,
        "name": dto.name,
        "slug": dto.slug,
        "description": dto.description,
        "price": money_str(dto.price),
        "currency": dto.currency,
        "category": dto.category,
        "status": dto.status,
        "in_stock": dto.in_stock,
        "available_quantity": dto.available_quantity,
    }


def _product_response(dto: services.ProductDTO, code: int = status.HTTP_200_OK) -> Response:
    return Response(ProductDetailOutputSerializer(dto).data, status=code)


# -- products ----------------------------------------------------------------------------------


class ProductCollectionView(APIView):
    """GET: the product list (everyone). POST: add a product (staff)."""

    permission_classes = (IsStaffOrReadOnly, StaffPermissions)
    staff_permissions = {"POST": "products.add_product"}

    class ProductCreateInputSerializer(KnownFieldsOnly):
        """A new product; another field is 400 unknown_field."""

        sku = serializers.CharField(max_length=64)
        name = serializers.CharField(max_length=200)
        price = PlainDecimalField(
            max_digits=12, decimal_places=2, min_value=Decimal("0"), max_value=MAX_PRICE
        )
        description = serializers.CharField(allow_blank=True, required=False, default="")
        category = serializers.SlugField(
            max_length=100, allow_null=True, required=False, default=None
        )
        status = serializers.ChoiceField(
            choices=ProductStatus.choices, required=False, default=ProductStatus.ACTIVE
        )
        image_url = serializers.URLField(
            max_length=500, allow_blank=True, required=False, default=""
        )
        slug = serializers.SlugField(max_length=220, required=False, default="")
        initial_stock = WholeNumberField(
            min_value=0, max_value=inventory.MAX_UNITS_TYPED, required=False, default=0
        )

    @extend_schema(
        operation_id="products_list",
        summary="List products: shoppers see active ones, staff every status.",
        parameters=[
            OpenApiParameter("search", str, description="Text in the name, SKU or description."),
            OpenApiParameter("category", str, description="A category slug (and its children)."),
            OpenApiParameter("min_price", OpenApiTypes.DECIMAL),
            OpenApiParameter("max_price", OpenApiTypes.DECIMAL),
            OpenApiParameter(
                "in_stock",
                bool,
                description=(
                    "true: only products with units available. It follows stock changes by "
                    "the event relay's delay (under a second when it keeps up); each item's "
                    "in_stock and available_quantity are read live."
                ),
            ),
            OpenApiParameter(
                "ordering",
                str,
                enum=["price", "-price", "name", "-name", "created_at", "-created_at"],
                description="Default: -created_at (newest first).",
            ),
            OpenApiParameter(
                "status",
                str,
                enum=ProductStatus.values,
                description="Staff only: shoppers always see active products.",
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: ProductPageOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        staff = _is_staff(request)
        if not staff and not selectors.has_list_filters(request.query_params):
            products: Any = selectors.NewestActiveProducts()
        else:
            products = selectors.product_list(filters=request.query_params, staff=staff)
        paginator = PageNumberPagination()
        page: list[Product] = paginator.paginate_queryset(products, request, view=self) or []
        data = [product_list_item(dto) for dto in products_to_dtos(page)]
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="products_create",
        summary="Add a product, optionally with initial stock (staff).",
        request=ProductCreateInputSerializer,
        responses={201: ProductDetailOutputSerializer},
    )
    @raises(
        fields={
            "sku": [services.DuplicateSku, services.InvalidProduct],
            "name": [services.InvalidProduct],
            "slug": [services.DuplicateSlug, services.InvalidProduct],
            "category": [services.CategoryNotFound],
            "price": [services.InvalidPrice],
            "status": [services.InvalidProduct],
            "image_url": [services.InvalidProduct],
            "initial_stock": [services.InvalidProduct],
        }
    )
    def post(self, request: Request) -> Response:
        data = self.ProductCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_create(**data.validated_data, actor_id=request.user.pk)
        return _product_response(product, status.HTTP_201_CREATED)


class ProductDetailView(APIView):
    """GET: one product (shoppers: active ones only). PATCH: change it (staff)."""

    permission_classes = (IsStaffOrReadOnly, StaffPermissions)
    staff_permissions = {"PATCH": "products.change_product"}

    class ProductUpdateInputSerializer(KnownFieldsOnly):
        """The fields to change. The product as read may be sent back with some edited: a field it
        only shows must come back unchanged (400 read_only); another field is 400
        unknown_field."""

        echoed = frozenset(ProductDetailOutputSerializer().fields)

        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(allow_blank=True, required=False)
        category = serializers.SlugField(max_length=100, allow_null=True, required=False)
        status = serializers.ChoiceField(choices=ProductStatus.choices, required=False)
        image_url = serializers.URLField(max_length=500, allow_blank=True, required=False)
        slug = serializers.SlugField(max_length=220, required=False)
        price = PlainDecimalField(
            max_digits=12,
            decimal_places=2,
            min_value=Decimal("0"),
            max_value=MAX_PRICE,
            required=False,
            help_text="A new price publishes ProductPriceChanged.",
        )

    @extend_schema(
        operation_id="products_retrieve",
        summary="One product; drafts and discontinued ones are 404 for shoppers.",
        responses={200: ProductDetailOutputSerializer},
    )
    def get(self, request: Request, product_id: UUID) -> Response:
        product = services.product_get(product_id=product_id)
        if product.status != ProductStatus.ACTIVE and not _is_staff(request):
            raise services.ProductNotFound()
        return _product_response(product)

    @extend_schema(
        operation_id="products_partial_update",
        summary="Change a product (staff); a new price publishes ProductPriceChanged.",
        request=ProductUpdateInputSerializer,
        responses={200: ProductDetailOutputSerializer},
    )
    @raises(
        fields={
            "name": [services.InvalidProduct],
            "slug": [services.DuplicateSlug, services.InvalidProduct],
            "category": [services.CategoryNotFound],
            "price": [services.InvalidPrice],
            "status": [services.ProductDiscontinuedIsFinal, services.InvalidProduct],
            "image_url": [services.InvalidProduct],
            # A field the product shows but that cannot change here, sent changed.
            **{
                name: ["read_only"]
                for name in ProductUpdateInputSerializer.echoed
                - set(ProductUpdateInputSerializer().fields)
            },
        }
    )
    def patch(self, request: Request, product_id: UUID) -> Response:
        data = self.ProductUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        _refuse_changes_to_echoed_fields(data, product_id)
        product = services.product_update(
            product_id=product_id, actor_id=request.user.pk, **data.validated_data
        )
        return _product_response(product)


def _refuse_changes_to_echoed_fields(data: KnownFieldsOnly, product_id: UUID) -> None:
    """Fields of the product as read that a PATCH sent back (``echoed``) must be sent as
    read: a changed one (a new SKU, another currency, a stock level) is 400 ``read_only``
    rather than dropped with a 200."""
    sent = {
        name: value
        for name, value in data.initial_data.items()
        if name in data.echoed and name not in data.fields
    }
    if not sent:
        return
    shown = ProductDetailOutputSerializer(services.product_get(product_id=product_id)).data
    changed = [name for name, value in sent.items() if _as_sent(value) != _as_sent(shown[name])]
    if changed:
        raise ValidationError(
            {
                name: ErrorDetail(
                    "A product's SKU never changes."
                    if name == "sku"
                    else "Read only: this field cannot be changed here.",
                    code="read_only",
                )
                for name in changed
            }
        )


def _as_sent(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class ProductDiscontinueView(APIView):
    """Take a product off sale for good (staff). Doing it twice is harmless."""

    permission_classes = (permissions.IsAdminUser, StaffPermissions)
    staff_permissions = {"POST": "products.change_product"}

    @extend_schema(
        operation_id="products_discontinue",
        summary="Discontinue a product (staff); idempotent.",
        request=None,
        responses={200: ProductDetailOutputSerializer},
    )
    def post(self, request: Request, product_id: UUID) -> Response:
        no_body(request)
        product = services.product_discontinue(product_id=product_id, actor_id=request.user.pk)
        return _product_response(product)


# -- categories --------------------------------------------------------------------------------


class CategoryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    # The serializer metaclass takes declared fields off the class, so this does not shadow
    # Field.parent at run time; mypy cannot know that.
    parent = serializers.SlugField(  # type: ignore[assignment]
        source="parent.slug", allow_null=True, help_text="The parent category's slug."
    )


CategoryPageOutputSerializer = page_of(CategoryOutputSerializer, "CategoryPageOutputSerializer")


class CategoryListView(APIView):
    """Every category, by name; ``parent`` links a subcategory to its parent."""

    permission_classes = (permissions.AllowAny,)

    @extend_schema(
        operation_id="categories_list",
        summary="List categories by name.",
        parameters=PAGE_PARAMETERS,
        responses={200: CategoryPageOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.category_list(), request, view=self) or []
        data = CategoryOutputSerializer(page, many=True).data
        return paginator.get_paginated_response(data)
