"""Staff's catalog tool. Every write goes through the services, so it publishes the same
events as the API: creating and editing products, the "change price" and "discontinue"
actions, and categories.
"""

import hashlib
from decimal import Decimal
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from apps.inventory import services as inventory
from apps.products import services
from apps.products.models import Category, Product, ProductStatus
from apps.products.selectors import category_subtree_ids
from ecommerce.common.admin import ChangedFieldsOnly, RefusalsAsMessages, bounded
from ecommerce.core.idempotency import IdempotencyKeyReused, OnceFormField, run_once

# The attribute the change list puts each row's available quantity in (None: no stock row).
_AVAILABLE = "_available_quantity"


class ProductChangeList(ChangeList):
    """The product list, with availability fetched from inventory in one call per page."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        products = list(self.result_list)  # evaluates the page once; rows are reused below
        stock = inventory.stock_get_many(product_ids=[p.pk for p in products])
        for product in products:
            level = stock.get(product.pk)
            setattr(product, _AVAILABLE, level.available if level is not None else None)


class ProductForm(forms.ModelForm):
    """The admin builds the model fields onto it; this adds the services' rules a model field
    does not know, so a bad value is an error on its field rather than at save."""

    def clean_image_url(self) -> str:
        url: str = self.cleaned_data.get("image_url") or ""
        if url:
            services.validate_image_url(url)
        return url


class ProductAddForm(ProductForm):
    """The add form, with the stock the product starts with."""

    initial_stock = forms.IntegerField(
        min_value=0,
        max_value=inventory.MAX_UNITS_TYPED,
        initial=0,
        required=False,
        help_text="Units on hand.",
    )


PRICE_CHANGE_LISTED = 100  # products the price form shows; it says how many more there are


class ChangePriceForm(forms.Form):
    # Sent again (Back, then Change price), the form changes nothing: not even a price another
    # staff member changed since.
    request_id = OnceFormField()
    price = forms.DecimalField(
        label="New price",
        min_value=Decimal("0"),
        max_value=services.MAX_PRICE,
        max_digits=12,
        decimal_places=2,
    )


TOP_CATEGORIES_LISTED = 100  # the product list's category filter offers these at most


class TopCategoryFilter(admin.SimpleListFilter):
    """The top-level categories, each with everything below it. Django's related-field
    filter lists every category (0.8 MB a page at 10,000), as a plain select did."""

    title = "category"
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        top = Category.objects.filter(parent=None).order_by("name", "pk")
        return top.values_list("slug", "name")[:TOP_CATEGORIES_LISTED]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        slug = self.value()
        if slug is None:
            return queryset
        return queryset.filter(category_id__in=category_subtree_ids(slug=slug))


@admin.register(Product)
class ProductAdmin(RefusalsAsMessages, ChangedFieldsOnly):
    list_display = ("name", "sku", "category", "price", "currency", "status", "available")
    list_filter = ("status", TopCategoryFilter)
    # Typed into, rather than a select of every category.
    autocomplete_fields = ("category",)
    search_fields = ("name", "sku")
    list_select_related = ("category",)
    ordering = ("name", "id")  # whole, so the admin adds no "-pk" the index lacks
    actions = ("change_price", "discontinue")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("currency", "available", "created_at", "updated_at")
    show_full_result_count = False
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ProductChangeList

    def get_form(
        self, request: HttpRequest, obj: Product | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = ProductAddForm if obj is None else ProductForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> Any:
        if obj is None:
            return self.readonly_fields
        # The SKU names the product in every other app's snapshots: it never changes. Nor does
        # a discontinued product's status (services.ProductDiscontinuedIsFinal).
        final = ("status",) if obj.status == ProductStatus.DISCONTINUED else ()
        return (*self.readonly_fields, "sku", *final)

    def get_prepopulated_fields(self, request: HttpRequest, obj: Product | None = None) -> Any:
        return self.prepopulated_fields if obj is None else {}

    def has_delete_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return False  # other apps keep references: discontinue instead

    @admin.display(description="available")
    def available(self, product: Product) -> str:
        if not hasattr(product, _AVAILABLE):  # the change form: one product, one call
            level = inventory.stock_get_many(product_ids=[product.pk]).get(product.pk)
            setattr(product, _AVAILABLE, level.available if level is not None else None)
        value = getattr(product, _AVAILABLE)
        return "—" if value is None else str(value)

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        # The form has put its values on ``obj``; the services write them and publish.
        actor_id = request.user.pk
        category = obj.category.slug if obj.category is not None else None
        if not change:
            dto = services.product_create(
                sku=obj.sku,
                name=obj.name,
                slug=obj.slug,
                price=obj.price,
                description=obj.description,
                category=category,
                status=obj.status,
                image_url=obj.image_url,
                initial_stock=form.cleaned_data.get("initial_stock") or 0,
                actor_id=actor_id,
            )
            obj.pk = dto.id
            obj._state.adding = False
        else:
            editable = {"name", "slug", "description", "category", "status", "image_url"}
            fields: dict[str, Any] = {
                name: getattr(obj, name) for name in form.changed_data if name in editable
            }
            if "category" in fields:
                fields["category"] = category
            if "price" in form.changed_data:
                fields["price"] = obj.price
            services.product_update(product_id=obj.pk, actor_id=actor_id, **fields)
        obj.refresh_from_db()

    @admin.action(description="Change price of selected products", permissions=["change"])
    @bounded
    def change_price(
        self, request: HttpRequest, queryset: QuerySet[Product]
    ) -> HttpResponse | None:
        form = ChangePriceForm(
            request.POST if "apply" in request.POST else None,
            initial={"request_id": OnceFormField.fresh()},
        )
        if form.is_valid():
            price = form.cleaned_data["price"]
            product_ids = sorted(str(pk) for pk in queryset.values_list("pk", flat=True))
            done = f"price set to {price} for {len(product_ids)} products"

            def change() -> str:
                for product_id in product_ids:
                    services.product_change_price(
                        product_id=UUID(product_id), price=price, actor_id=request.user.pk
                    )
                return f"{done.capitalize()}."

            try:
                told, repeated = run_once(
                    scope=f"admin:{request.user.pk}",
                    key=f"change_price:{form.cleaned_data['request_id']}",
                    fingerprint=hashlib.sha256(f"{product_ids}{price}".encode()).hexdigest(),
                    run=change,
                )
            except IdempotencyKeyReused:
                self.message_user(
                    request, "This form was already used; nothing changed.", messages.ERROR
                )
                return None
            if repeated:
                told = f"Already made: {done}; nothing changed now."
            self.message_user(request, str(told), messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Change price",
            "opts": self.model._meta,
            "form": form,
            "count": queryset.count(),
            "products": queryset.order_by("name", "pk")[:PRICE_CHANGE_LISTED],
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/products/product/change_price.html", context)

    @admin.action(description="Discontinue selected products", permissions=["change"])
    @bounded
    def discontinue(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        # Read first: the queryset keeps the change list's filter (status=active, say), which
        # would no longer match the products once discontinued.
        selected = list(queryset.values_list("pk", "status"))
        already = sum(status == ProductStatus.DISCONTINUED for _, status in selected)
        for product_id, _ in selected:
            services.product_discontinue(product_id=product_id, actor_id=request.user.pk)
        message = f"{len(selected) - already} products discontinued."
        if already:
            message += f" {already} already were."
        self.message_user(request, message, messages.SUCCESS)


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "slug", "parent")

    def clean_parent(self) -> Category | None:
        parent: Category | None = self.cleaned_data["parent"]
        if parent is not None and self.instance.pk is not None and parent.is_within(self.instance):
            raise forms.ValidationError(
                "A category cannot sit under itself or one of its subcategories."
            )
        return parent


@admin.register(Category)
class CategoryAdmin(RefusalsAsMessages, ChangedFieldsOnly):
    form = CategoryForm
    list_display = ("name", "slug", "parent")
    search_fields = ("name", "slug")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)
    prepopulated_fields = {"slug": ("name",)}

    def has_delete_permission(self, request: HttpRequest, obj: Category | None = None) -> bool:
        return False  # products and other apps' snapshots name categories by slug

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        parent = obj.parent.slug if obj.parent is not None else None
        if change:
            fields: dict[str, Any] = {"name": obj.name, "slug": obj.slug, "parent": parent}
            edited = {name: value for name, value in fields.items() if name in form.changed_data}
            services.category_update(category_id=obj.pk, **edited)
        else:
            obj.pk = services.category_create(name=obj.name, slug=obj.slug, parent=parent).id
            obj._state.adding = False
        obj.refresh_from_db()
