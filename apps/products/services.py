"""Products's public service interface: use cases, their DTOs and the app's exceptions.

Other apps may import this module and ``apps.products.events``; the rest of the app is
private. Every write goes through here (API, admin, ``seed_demo``), so every change another
app cares about is published as an event in the same transaction.

When products runs as a service of its own (``SERVICE_URLS``), the reads other apps call
(``product_get``, ``product_get_many``) go to it over HTTP through
``apps.products.http_client``; the rest of the app always runs them here (docs/SPLITTING.md).
"""

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Final
from uuid import UUID, uuid4

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.inventory import services as inventory
from apps.products.dtos import CategoryDTO, ProductDTO, category_to_dto, products_to_dtos
from apps.products.events import (
    ProductCreated,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductUpdated,
)
from apps.products.models import Category, Product, ProductStatus
from apps.products.selectors import products_by_id
from ecommerce.bus import publish
from ecommerce.common.db import BIND_LIMIT, in_batches, in_pages, lock_name
from ecommerce.common.errors import DomainError, NotFound
from ecommerce.common.money import CENT, MAX_AMOUNT
from ecommerce.remote import service_url

if TYPE_CHECKING:
    from apps.products.http_client import ProductsClient

__all__ = [
    "LOOKUP_BATCH",
    "MAX_PRICE",
    "UNSET",
    "CategoryDTO",
    "CategoryNotFound",
    "DuplicateSku",
    "DuplicateSlug",
    "InvalidCategoryParent",
    "InvalidPrice",
    "InvalidProduct",
    "ProductDTO",
    "ProductDiscontinuedIsFinal",
    "ProductNotFound",
    "category_create",
    "category_update",
    "product_change_price",
    "product_create",
    "product_discontinue",
    "product_get",
    "product_get_many",
    "product_update",
    "validate_image_url",
]

MAX_PRICE: Final = MAX_AMOUNT  # what the column holds (12 digits, 2 decimals)
CATEGORY_TREE_LOCK: Final = "products.category_tree"
# Products one lookup over HTTP asks about at most (products apart: docs/SPLITTING.md).
LOOKUP_BATCH: Final = 1_000
# A product image is fetched by shop clients: a web address, nothing else.
validate_image_url: Final = URLValidator(
    schemes=["http", "https"], message="Enter a valid http(s) URL."
)


# -- errors ----------------------------------------------------------------------------------


class ProductNotFound(NotFound):
    default_detail = "No product with this id."


class DuplicateSku(DomainError):
    # A 400 on the ``sku`` field rather than a 409: the client typed a SKU that is taken and
    # fixes it like any other invalid field.
    code = "duplicate_sku"
    status = 400
    default_detail = "A product with this SKU already exists."


class DuplicateSlug(DomainError):
    code = "duplicate_slug"
    status = 400
    default_detail = "This slug is already in use."


class CategoryNotFound(DomainError):
    code = "unknown_category"
    status = 400
    default_detail = "No category with this slug."


class InvalidCategoryParent(DomainError):
    code = "invalid_parent"
    status = 400
    default_detail = "A category cannot be its own parent or the parent of its ancestors."


class InvalidPrice(DomainError):
    code = "invalid_price"
    status = 400
    default_detail = "A price is a number of at least 0 with at most two decimal places."


class InvalidProduct(DomainError):
    code = "invalid"
    status = 400
    default_detail = "Invalid product data."


class ProductDiscontinuedIsFinal(DomainError):
    """Discontinued is final: carts dropped the product and subscribers were told it is gone
    (``ProductDiscontinued``); bringing it back would contradict that. Sell a new product."""

    code = "product_discontinued"
    status = 400
    default_detail = "A discontinued product cannot change its status; create a new product."


# -- "not given" for partial updates -----------------------------------------------------------


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET: Final = _Unset.UNSET
"""The default of every ``product_update`` field: leave it as it is."""


# -- products --------------------------------------------------------------------------------


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    description: str = "",
    category: str | None = None,
    status: str = ProductStatus.ACTIVE,
    image_url: str = "",
    slug: str = "",
    initial_stock: int = 0,
    actor_id: UUID | None = None,
) -> ProductDTO:
    """Add a product to the catalog, priced in the store currency.

    ``category`` is a category slug; ``slug`` defaults to one made from the name. With
    ``initial_stock`` > 0 the product's stock is created and adjusted in the same transaction.

    Publishes ``ProductCreated`` (and inventory's stock events for the initial stock).
    Raises ``DuplicateSku``, ``DuplicateSlug``, ``CategoryNotFound``, ``InvalidPrice``,
    ``InvalidProduct``.
    """
    sku = _required_text(sku, attr="sku", max_length=64)
    name = _required_text(name, attr="name", max_length=200)
    price = _valid_price(price)
    status = _valid_status(status)
    image_url = _valid_image_url(image_url)
    if initial_stock < 0:
        raise InvalidProduct("Initial stock cannot be negative.", attr="initial_stock")
    category_row = _category_by_slug(category) if category is not None else None
    if Product.objects.filter(sku=sku).exists():
        raise DuplicateSku(attr="sku")
    slug_given = bool(slug)
    if slug_given:
        slug = _valid_slug(slug)
        if Product.objects.filter(slug=slug).exists():
            raise DuplicateSlug(attr="slug")
    else:
        slug = _free_slug(name=name, sku=sku)

    while True:
        try:
            with transaction.atomic():
                product = Product.objects.create(
                    sku=sku,
                    name=name,
                    slug=slug,
                    description=description,
                    price=price,
                    currency=settings.STORE_CURRENCY,
                    status=status,
                    image_url=image_url,
                    category=category_row,
                )
            break
        except IntegrityError as exc:  # lost a race with another create of the SKU or slug
            if Product.objects.filter(sku=sku).exists():
                raise DuplicateSku(attr="sku") from exc
            if slug_given:
                raise DuplicateSlug(attr="slug") from exc
            # The slug we picked was taken meanwhile (a product of the same name): pick
            # again, the client has nothing to fix.
            slug = _free_slug(name=name, sku=sku)

    publish(
        ProductCreated(
            product_id=product.pk,
            sku=product.sku,
            name=product.name,
            price=product.price,
            currency=product.currency,
            status=product.status,
            category=category_row.slug if category_row is not None else None,
            actor_id=actor_id,
        )
    )
    if initial_stock > 0:
        inventory.stock_create(
            product_id=product.pk, sku=product.sku, on_hand=initial_stock, actor_id=actor_id
        )
        # Where inventory runs apart its BackInStock may be handled before this product is
        # committed, finding no row to flag; so the flag is set again once it is.
        refresh = partial(products_refresh_in_stock, product_ids=[product.pk])
        transaction.on_commit(refresh, robust=True)
    return _dto(product)


@transaction.atomic
def product_update(
    *,
    product_id: UUID,
    name: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    category: str | _Unset | None = UNSET,
    status: str | _Unset = UNSET,
    image_url: str | _Unset = UNSET,
    slug: str | _Unset = UNSET,
    price: Decimal | _Unset = UNSET,
    actor_id: UUID | None = None,
) -> ProductDTO:
    """Change a product's details and price together; fields left ``UNSET`` stay as they are.
    The SKU never changes.

    Publishes ``ProductUpdated`` naming the details that changed (nothing when none did),
    ``ProductDiscontinued`` when the status becomes discontinued, then ``ProductPriceChanged``
    for a new price, as ``product_change_price`` does. Raises ``ProductNotFound``,
    ``CategoryNotFound``, ``DuplicateSlug``, ``InvalidProduct``, ``InvalidPrice``,
    ``ProductDiscontinuedIsFinal`` (a discontinued product's status never changes again).
    """
    product = _locked(product_id)
    if not isinstance(price, _Unset):
        price = _valid_price(price)
    wanted: dict[str, object] = {}
    if not isinstance(name, _Unset):
        wanted["name"] = _required_text(name, attr="name", max_length=200)
    if not isinstance(description, _Unset):
        wanted["description"] = description
    if not isinstance(category, _Unset):
        wanted["category"] = _category_by_slug(category) if category is not None else None
    if not isinstance(status, _Unset):
        wanted["status"] = _valid_status(status)
        discontinued = ProductStatus.DISCONTINUED
        if product.status == discontinued and wanted["status"] != discontinued:
            raise ProductDiscontinuedIsFinal(attr="status")
    if not isinstance(image_url, _Unset):
        wanted["image_url"] = _valid_image_url(image_url)
    if not isinstance(slug, _Unset):
        wanted["slug"] = _valid_slug(slug)
        if Product.objects.filter(slug=slug).exclude(pk=product.pk).exists():
            raise DuplicateSlug(attr="slug")

    was_discontinued = product.status == ProductStatus.DISCONTINUED
    changed = tuple(sorted(f for f, value in wanted.items() if getattr(product, f) != value))
    if changed:
        for field in changed:
            setattr(product, field, wanted[field])
        with _slug_race():
            product.save(update_fields=[*changed, "updated_at"])
        publish(
            ProductUpdated(
                product_id=product.pk,
                sku=product.sku,
                name=product.name,
                status=product.status,
                changed=changed,
                actor_id=actor_id,
            )
        )
        if product.status == ProductStatus.DISCONTINUED and not was_discontinued:
            publish(_discontinued(product, actor_id=actor_id))
    if not isinstance(price, _Unset):
        _reprice(product, price, actor_id=actor_id)
    return _dto(product)


@transaction.atomic
def product_change_price(
    *, product_id: UUID, price: Decimal, actor_id: UUID | None = None
) -> ProductDTO:
    """Set a new price (in the product's currency). The same price again changes nothing.

    Publishes ``ProductPriceChanged`` with the old and the new price.
    Raises ``ProductNotFound``, ``InvalidPrice``.
    """
    price = _valid_price(price)
    product = _locked(product_id)
    _reprice(product, price, actor_id=actor_id)
    return _dto(product)


def _reprice(product: Product, price: Decimal, *, actor_id: UUID | None) -> None:
    """``price`` is valid and ``product`` locked; publishes ``ProductPriceChanged`` if it is
    new."""
    old_price = product.price
    if price == old_price:
        return
    product.price = price
    product.save(update_fields=["price", "updated_at"])
    publish(
        ProductPriceChanged(
            product_id=product.pk,
            sku=product.sku,
            name=product.name,
            old_price=old_price,
            new_price=price,
            currency=product.currency,
            actor_id=actor_id,
        )
    )


@transaction.atomic
def product_discontinue(*, product_id: UUID, actor_id: UUID | None = None) -> ProductDTO:
    """Take a product off sale for good. Discontinuing it again changes nothing.

    Publishes ``ProductDiscontinued``. Raises ``ProductNotFound``.
    """
    product = _locked(product_id)
    if product.status == ProductStatus.DISCONTINUED:
        return _dto(product)
    product.status = ProductStatus.DISCONTINUED
    product.save(update_fields=["status", "updated_at"])
    publish(_discontinued(product, actor_id=actor_id))
    return _dto(product)


def product_get(*, product_id: UUID) -> ProductDTO:
    """One product, whatever its status, with its availability. Raises ``ProductNotFound``."""
    if remote := _remote():
        return remote.product_get(product_id=product_id)
    found = products_by_id([product_id])
    if not found:
        raise ProductNotFound()
    return _dto(found[0])


def product_get_many(*, product_ids: list[UUID]) -> dict[UUID, ProductDTO]:
    """Products by id with their availability, in two queries whatever the number of ids.
    Unknown ids are left out.
    """
    if remote := _remote():
        return remote.product_get_many(product_ids=product_ids)
    return {dto.id: dto for dto in products_to_dtos(products_by_id(set(product_ids)))}


def products_refresh_in_stock(*, product_ids: Iterable[UUID] | None = None) -> int:
    """Set products' ``in_stock`` from inventory's stock as it is now: these products, or
    every product (a page of ``BIND_LIMIT`` at a time). Returns how many changed.

    What inventory's ``OutOfStock`` and ``BackInStock`` run, and the repair after restoring
    a backup or moving an app (``manage.py refresh_in_stock``). It reads stock now rather
    than trusting the event, so an event replayed or delivered late cannot set an old value.
    """
    if product_ids is not None:
        return sum(_refresh_in_stock(batch) for batch in in_batches(list(product_ids)))
    changed = 0
    for flags in in_pages(Product.objects.all(), "in_stock", size=BIND_LIMIT):
        # The whole catalog is read without locks, and only the rows that look wrong are
        # locked and looked at again: a row that looks right is left to its own crossing's
        # handler, which locks it (a sweep locking every row would hold up staff edits).
        available = _available(pk for pk, _ in flags)
        suspects = [pk for pk, flag in flags if flag != (pk in available)]
        if suspects:
            changed += _refresh_in_stock(suspects)
    return changed


@transaction.atomic
def _refresh_in_stock(product_ids: Sequence[UUID]) -> int:
    # The rows are locked before stock is read. OutOfStock and BackInStock have a subscriber
    # each, so the bus runs one product's two crossings side by side: each would read stock,
    # and the one that read first could write last, leaving the flag wrong for good. Locked,
    # they take turns, and the second reads stock after the first wrote. (Where inventory
    # runs apart, the lock is held across its HTTP call: a staff edit of the product waits.)
    products = Product.objects.filter(pk__in=product_ids)
    locked = list(
        products.select_for_update(no_key=True).order_by("pk").values_list("pk", "in_stock")
    )
    available = _available(pk for pk, _ in locked)
    to_true = [pk for pk, flag in locked if not flag and pk in available]
    to_false = [pk for pk, flag in locked if flag and pk not in available]
    return products.filter(pk__in=to_true).update(in_stock=True) + products.filter(
        pk__in=to_false
    ).update(in_stock=False)


def _available(product_ids: Iterable[UUID]) -> set[UUID]:
    """Those of the products with units available now."""
    stock = inventory.stock_get_many(product_ids=product_ids)
    return {pk for pk, level in stock.items() if level.available > 0}


# -- categories ------------------------------------------------------------------------------


@transaction.atomic
def category_create(*, name: str, slug: str = "", parent: str | None = None) -> CategoryDTO:
    """Add a category, optionally under ``parent`` (a category slug).

    Raises ``CategoryNotFound`` (unknown parent), ``DuplicateSlug``, ``InvalidProduct``.
    """
    name = _required_text(name, attr="name", max_length=100)
    slug = _valid_slug(slug or slugify(name))
    parent_row = _category_by_slug(parent, attr="parent") if parent is not None else None
    if Category.objects.filter(slug=slug).exists():
        raise DuplicateSlug(attr="slug")
    with _slug_race():
        category = Category.objects.create(name=name, slug=slug, parent=parent_row)
    return category_to_dto(category)


@transaction.atomic
def category_update(
    *,
    category_id: UUID,
    name: str | _Unset = UNSET,
    slug: str | _Unset = UNSET,
    parent: str | _Unset | None = UNSET,
) -> CategoryDTO:
    """Rename a category, change its slug or move it under another parent (or to the top).

    Moves take turns (one lock for the whole tree, taken first): two at once (Outdoors under
    Sports, Sports under Camping, Camping under Outdoors) each checked the tree before the
    other committed, and together made a loop.

    Raises ``CategoryNotFound``, ``DuplicateSlug``, ``InvalidCategoryParent``,
    ``InvalidProduct``.
    """
    if not isinstance(parent, _Unset):
        lock_name(CATEGORY_TREE_LOCK)
    # NO KEY: products written in the category meanwhile (a key-share lock each) need not wait
    # for a rename or a move (a new slug, a unique key, still makes the UPDATE wait for them).
    category = Category.objects.select_for_update(no_key=True).filter(pk=category_id).first()
    if category is None:
        raise CategoryNotFound("No such category.")
    if not isinstance(name, _Unset):
        category.name = _required_text(name, attr="name", max_length=100)
    if not isinstance(slug, _Unset):
        category.slug = _valid_slug(slug)
        if Category.objects.filter(slug=category.slug).exclude(pk=category.pk).exists():
            raise DuplicateSlug(attr="slug")
    if not isinstance(parent, _Unset):
        parent_row = _category_by_slug(parent, attr="parent") if parent is not None else None
        if parent_row is not None and parent_row.is_within(category):
            raise InvalidCategoryParent(attr="parent")
        category.parent = parent_row
    with _slug_race():
        category.save()
    return category_to_dto(category)


# -- helpers ---------------------------------------------------------------------------------


def _remote() -> "ProductsClient | None":
    """Products in another process, when ``SERVICE_URLS`` says it runs elsewhere."""
    url = service_url("products")
    if url is None:
        return None
    from apps.products.http_client import ProductsClient  # it imports this module

    return ProductsClient(url)


def _dto(product: Product) -> ProductDTO:
    return products_to_dtos([product])[0]


def _locked(product_id: UUID) -> Product:
    product = Product.objects.select_for_update().filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound()
    return product


def _discontinued(product: Product, *, actor_id: UUID | None) -> ProductDiscontinued:
    return ProductDiscontinued(
        product_id=product.pk, sku=product.sku, name=product.name, actor_id=actor_id
    )


def _category_by_slug(slug: str, *, attr: str = "category") -> Category:
    category = Category.objects.select_related("parent").filter(slug=slug).first()
    if category is None:
        raise CategoryNotFound(f"No category with the slug {slug!r}.", attr=attr)
    return category


def _required_text(value: str, *, attr: str, max_length: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidProduct("This field may not be blank.", attr=attr)
    if len(value) > max_length:
        raise InvalidProduct(f"At most {max_length} characters.", attr=attr)
    return value


def _valid_price(price: object) -> Decimal:
    if isinstance(price, float | bool):  # floats are not money; True is not a price
        raise InvalidPrice(attr="price")
    try:
        value = Decimal(price)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise InvalidPrice(attr="price") from exc
    if not value.is_finite() or value < 0 or value > MAX_PRICE or value != value.quantize(CENT):
        raise InvalidPrice(attr="price")
    return abs(value).quantize(CENT)  # -0 is 0: an event must not say "-0.00"


def _valid_status(status: str) -> str:
    if status not in ProductStatus.values:
        raise InvalidProduct(f"{status!r} is not a product status.", attr="status")
    return status


def _valid_slug(slug: str) -> str:
    try:
        validate_slug(slug)
    except DjangoValidationError as exc:
        raise InvalidProduct(
            "A slug has only letters, numbers, underscores or hyphens.", attr="slug"
        ) from exc
    return slug


def _valid_image_url(url: str) -> str:
    if url:
        try:
            validate_image_url(url)
        except DjangoValidationError as exc:
            raise InvalidProduct(str(validate_image_url.message), attr="image_url") from exc
    return url


@contextmanager
def _slug_race() -> Iterator[None]:
    """A write of a slug the caller chose and checked is free: another write may take it in
    between, and the unique index's refusal is then ``DuplicateSlug``, as the check's."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise DuplicateSlug(attr="slug") from exc


def _free_slug(*, name: str, sku: str) -> str:
    """A slug from the name that no product has yet: the name, then name and SKU."""
    base = slugify(name)[:180] or slugify(sku)[:180] or "product"
    for candidate in (base, f"{base}-{slugify(sku)}"[:220]):
        if not Product.objects.filter(slug=candidate).exists():
            return candidate
    return f"{base}-{uuid4().hex[:8]}"
