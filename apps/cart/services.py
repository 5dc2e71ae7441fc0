"""Cart's public service interface: use cases, their DTOs and the app's exceptions.

Other apps may import this module and ``apps.cart.events``; the rest of the app is
private.

A cart is reached by its owner (a signed-in user) or, for an anonymous cart, by the secret
token handed out once at creation. Anyone else is told the cart does not exist
(``CartNotFound``, 404), never that it is someone else's.

Every use case that changes a cart locks its row first (``SELECT ... FOR UPDATE``), so two
requests on one cart apply one after the other; checkout then locks stock rows through
inventory, always in that order (cart, then stock by product id). Handlers that touch many
carts lock them in id order.
"""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.cart import events
from apps.cart.models import Cart, CartLine
from apps.cart.selectors import cart_lines, cart_with_lines
from apps.inventory import services as inventory
from apps.inventory.services import OutOfStock
from apps.products import services as products
from ecommerce.bus import publish
from ecommerce.common.db import db_value, fetch_models, lock_row, save_fields, transactional
from ecommerce.common.errors import DomainError, NotFound
from ecommerce.common.money import MAX_AMOUNT, quantize

__all__ = [
    "MAX_LINES",
    "MAX_LINE_QUANTITY",
    "CartDTO",
    "CartEmpty",
    "CartFull",
    "CartItemNotFound",
    "CartLineDTO",
    "CartNotFound",
    "CartNotOpen",
    "CheckoutInterrupted",
    "InvalidCheckout",
    "InvalidQuantity",
    "OrderTooLarge",
    "OutOfStock",
    "ProductUnavailable",
    "cart_add_item",
    "cart_change_quantity",
    "cart_checkout",
    "cart_claim",
    "cart_create",
    "cart_expire",
    "cart_get",
    "cart_mark_paid",
    "cart_mark_payment_failed",
    "cart_remove_item",
    "carts_remove_product",
    "carts_reprice_product",
]

logger = logging.getLogger(__name__)

Status = Cart.Status

# More of one product than a shopper plausibly wants is a typo or abuse, not an order.
MAX_LINE_QUANTITY: Final = 100
# As many different products: a cart holding more is a script's, and its checkout would lock
# that many stock rows at once.
MAX_LINES: Final = 100
MAX_PAYMENT_TOKEN_LENGTH: Final = 100


# -- errors -------------------------------------------------------------------------------------


class CartNotFound(NotFound):
    default_detail = "No cart with this id."


class CartItemNotFound(NotFound):
    default_detail = "No item with this id in the cart."


class CartNotOpen(DomainError):
    code = "cart_not_open"
    status = 409
    default_detail = "The cart is checked out and can no longer change."


class CartEmpty(DomainError):
    code = "cart_empty"
    status = 409
    default_detail = "The cart has no items to check out."


class CartFull(DomainError):
    code = "cart_full"
    status = 409
    default_detail = (
        f"A cart holds at most {MAX_LINES} different products; check this one out, or remove "
        "some, first."
    )


class ProductUnavailable(DomainError):
    code = "product_unavailable"
    status = 409
    default_detail = "The product is not for sale."


class InvalidQuantity(DomainError):
    code = "invalid_quantity"
    status = 400
    default_detail = f"The quantity must be a whole number from 1 to {MAX_LINE_QUANTITY}."


class OrderTooLarge(DomainError):
    code = "order_too_large"
    status = 409
    default_detail = (
        f"The order's total is more than one payment can be ({MAX_AMOUNT:,}); "
        "please split it into smaller orders."
    )


class CheckoutInterrupted(DomainError):
    """Inventory holds a reservation for this cart that does not match it, even renewed.

    Only where inventory runs as a service of its own: an earlier checkout reserved the stock,
    then failed before the cart recorded it, and the reservation it left could not be made
    over into the cart's lines (it was sold, or changed again meanwhile; docs/SPLITTING.md).
    """

    code = "checkout_interrupted"
    status = 409
    default_detail = (
        "An earlier checkout of this cart was interrupted and still holds other stock; "
        "please try again."
    )


class InvalidCheckout(DomainError):
    code = "invalid"
    status = 400
    default_detail = "The checkout details are not valid."


# -- DTOs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartLineDTO:
    id: UUID
    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


@dataclass(frozen=True, slots=True)
class CartDTO:
    id: UUID
    owner_id: UUID | None
    status: str  # "open" | "checked_out" | "paid" | "payment_failed" | "expired"
    currency: str
    items: tuple[CartLineDTO, ...]
    total: Decimal
    email: str
    payment_id: UUID | None
    failure_code: str
    checked_out_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The secret for an anonymous shopper: only in the DTO ``cart_create`` returns.
    token: str | None = None


def _line_dto(line: CartLine) -> CartLineDTO:
    return CartLineDTO(
        id=line.id,
        product_id=line.product_id,
        sku=line.sku,
        name=line.name,
        unit_price=line.unit_price,
        quantity=line.quantity,
        line_total=quantize(line.line_total),
    )


def _to_dto(cart: Cart, lines: Iterable[CartLine], *, token: str | None = None) -> CartDTO:
    items = tuple(_line_dto(line) for line in lines)
    return CartDTO(
        id=cart.id,
        owner_id=cart.owner_id,
        status=cart.status,
        currency=cart.currency,
        items=items,
        total=quantize(sum((item.line_total for item in items), Decimal(0))),
        email=cart.email,
        payment_id=cart.payment_id,
        failure_code=cart.failure_code,
        checked_out_at=cart.checked_out_at,
        created_at=cart.created_at,
        updated_at=cart.updated_at,
        token=token,
    )


def _event_lines(lines: Iterable[CartLine]) -> tuple[events.CartLine, ...]:
    return tuple(
        events.CartLine(
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            unit_price=line.unit_price,
            quantity=line.quantity,
        )
        for line in lines
    )


# -- access -------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _may_access(cart: Cart, *, user_id: UUID | None, cart_token: str | None) -> bool:
    if cart.owner_id is not None:
        return cart.owner_id == user_id
    return cart_token is not None and hmac.compare_digest(cart.token_hash, hash_token(cart_token))


def _locked_cart(*, cart_id: UUID, user_id: UUID | None, cart_token: str | None) -> Cart:
    cart = lock_row(Cart, pk=cart_id)
    if cart is None or not _may_access(cart, user_id=user_id, cart_token=cart_token):
        raise CartNotFound()
    return cart


def _locked_open_cart(*, cart_id: UUID, user_id: UUID | None, cart_token: str | None) -> Cart:
    cart = _locked_cart(cart_id=cart_id, user_id=user_id, cart_token=cart_token)
    if cart.status != Status.OPEN:
        raise CartNotOpen()
    return cart


def _check_quantity(quantity: object) -> int:
    if type(quantity) is not int or not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise InvalidQuantity(attr="quantity")
    return quantity


def _line_of(lines: list[CartLine], item_id: UUID) -> CartLine:
    line = next((line for line in lines if line.id == item_id), None)
    if line is None:
        raise CartItemNotFound()
    return line


def _customer_email(cart: Cart) -> str | None:
    if cart.email:
        return cart.email
    return cart.owner.email if cart.owner is not None else None


def _touch(cart: Cart) -> None:
    save_fields(cart, "updated_at")


# -- the shopper's use cases --------------------------------------------------------------------


@transaction.atomic
def cart_create(*, user_id: UUID | None = None) -> CartDTO:
    """A new, empty, open cart: the user's, or anonymous. Publishes nothing.

    The returned DTO carries the cart's secret ``token``; only its hash is stored, so this is
    the one time it can be told. An anonymous shopper needs it for every later call.
    """
    token = secrets.token_urlsafe(32)
    cart = Cart.objects.create(owner_id=user_id, token_hash=hash_token(token))
    return _to_dto(cart, [], token=token)


def cart_get(
    *, cart_id: UUID, user_id: UUID | None = None, cart_token: str | None = None
) -> CartDTO:
    """The cart with its lines and total. Raises ``CartNotFound`` unless the caller may see it."""
    found = cart_with_lines(cart_id=cart_id)
    if found is None or not _may_access(found[0], user_id=user_id, cart_token=cart_token):
        raise CartNotFound()
    cart, lines = found
    return _to_dto(cart, lines)


@transaction.atomic
def cart_add_item(
    *,
    cart_id: UUID,
    product_id: UUID,
    quantity: int,
    user_id: UUID | None = None,
    cart_token: str | None = None,
) -> CartDTO:
    """Put ``quantity`` units of a product in the cart, adding to its line if it has one.

    The line takes a fresh snapshot of the product's SKU, name and price. Publishes
    ``CartItemAdded``. Raises ``CartNotFound``, ``CartNotOpen``, ``InvalidQuantity`` (400; also
    when the line would exceed ``MAX_LINE_QUANTITY``), ``ProductNotFound`` (404; also for a
    draft, which the catalog does not show shoppers either), ``ProductUnavailable`` (409,
    discontinued), ``CartFull`` (409, a new line past ``MAX_LINES``) and ``OutOfStock`` (409,
    more than is available).
    """
    _check_quantity(quantity)
    cart = _locked_open_cart(cart_id=cart_id, user_id=user_id, cart_token=cart_token)
    product = products.product_get(product_id=product_id)
    if product.status == "draft":
        raise products.ProductNotFound()
    if product.status != "active":
        raise ProductUnavailable(attr="product_id")

    lines = cart_lines(cart_id=cart.id)
    line = next((line for line in lines if line.product_id == product_id), None)
    new_quantity = quantity + (line.quantity if line else 0)
    if new_quantity > MAX_LINE_QUANTITY:
        raise InvalidQuantity(
            f"At most {MAX_LINE_QUANTITY} units of one product fit in a cart.", attr="quantity"
        )
    if new_quantity > product.available_quantity:
        raise OutOfStock(
            f"Only {product.available_quantity} of {product.sku} available.",
            attr=str(product_id),
        )

    if line is None:
        if len(lines) >= MAX_LINES:
            raise CartFull(attr="product_id")
        line = CartLine(cart=cart, product_id=product_id)
        lines.append(line)
    line.sku, line.name, line.unit_price = product.sku, product.name, product.price
    line.quantity = new_quantity
    line.save()
    _touch(cart)
    publish(
        events.CartItemAdded(
            cart_id=cart.id,
            product_id=product_id,
            sku=product.sku,
            quantity=quantity,
            line_quantity=new_quantity,
            unit_price=product.price,
        )
    )
    return _to_dto(cart, lines)


@transaction.atomic
def cart_change_quantity(
    *,
    cart_id: UUID,
    item_id: UUID,
    quantity: int,
    user_id: UUID | None = None,
    cart_token: str | None = None,
) -> CartDTO:
    """Set a line's quantity. Publishes ``CartItemQuantityChanged`` when it changes.

    Raising it is checked against availability like adding is. Raises ``CartNotFound``,
    ``CartItemNotFound``, ``CartNotOpen``, ``InvalidQuantity``, ``ProductUnavailable``,
    ``OutOfStock``.
    """
    _check_quantity(quantity)
    cart = _locked_open_cart(cart_id=cart_id, user_id=user_id, cart_token=cart_token)
    lines = cart_lines(cart_id=cart.id)
    line = _line_of(lines, item_id)
    old_quantity = line.quantity
    if quantity == old_quantity:
        return _to_dto(cart, lines)
    if quantity > old_quantity:
        found = products.product_get_many(product_ids=[line.product_id]).get(line.product_id)
        if found is None or found.status != "active":
            raise ProductUnavailable(attr="quantity")
        if quantity > found.available_quantity:
            raise OutOfStock(
                f"Only {found.available_quantity} of {line.sku} available.",
                attr=str(line.product_id),
            )

    line.quantity = quantity
    line.save(update_fields=["quantity"])
    _touch(cart)
    publish(
        events.CartItemQuantityChanged(
            cart_id=cart.id,
            product_id=line.product_id,
            sku=line.sku,
            old_quantity=old_quantity,
            new_quantity=quantity,
        )
    )
    return _to_dto(cart, lines)


@transaction.atomic
def cart_remove_item(
    *, cart_id: UUID, item_id: UUID, user_id: UUID | None = None, cart_token: str | None = None
) -> CartDTO:
    """Take a line out of the cart. Publishes ``CartItemRemoved`` (``removed_by_customer``).

    Raises ``CartNotFound``, ``CartItemNotFound``, ``CartNotOpen``.
    """
    cart = _locked_open_cart(cart_id=cart_id, user_id=user_id, cart_token=cart_token)
    lines = cart_lines(cart_id=cart.id)
    line = _line_of(lines, item_id)
    lines.remove(line)
    line.delete()
    _touch(cart)
    publish(
        events.CartItemRemoved(
            cart_id=cart.id,
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            reason=events.REMOVED_BY_CUSTOMER,
            user_id=cart.owner_id,
            email=_customer_email(cart),
        )
    )
    return _to_dto(cart, lines)


@transaction.atomic
def cart_claim(*, cart_id: UUID, user_id: UUID, cart_token: str | None) -> CartDTO:
    """A shopper who signed in takes their anonymous cart along.

    If the user has an open cart already, the anonymous cart's lines are merged into it (same
    product: quantities added, up to ``MAX_LINE_QUANTITY`` and what is available, as adding
    them would allow; a product no longer on sale, or a new line past ``MAX_LINES``, is left
    out), the anonymous cart is deleted
    and the user's cart is returned, with ``CartItemAdded`` for each line merged. Otherwise the
    anonymous cart simply becomes the user's. Claiming a cart the user owns already returns it
    unchanged. Raises ``CartNotFound`` (no such cart, wrong token, another user's) and
    ``CartNotOpen``.
    """
    # Both carts in one statement, in id order like every handler that locks many carts, so
    # a claim and a reprice or a discontinuation touching the same two carts cannot deadlock.
    locked = list(
        Cart.objects.select_for_update()
        .filter(Q(pk=cart_id) | Q(owner_id=user_id, status=Status.OPEN))
        .order_by("id")
    )
    cart = next((c for c in locked if c.id == cart_id), None)
    if cart is None or not _may_access(cart, user_id=user_id, cart_token=cart_token):
        raise CartNotFound()
    if cart.owner_id == user_id:
        return _to_dto(cart, cart.lines.all())
    if cart.status != Status.OPEN:
        raise CartNotOpen()
    # The lines go to the user's most recently used open cart (ties: the lowest id).
    users_carts = sorted((c for c in locked if c.id != cart_id), key=lambda c: c.id)
    users_carts.sort(key=lambda c: c.updated_at, reverse=True)
    target = users_carts[0] if users_carts else None
    if target is None:
        cart.owner_id = user_id
        cart.save(update_fields=["owner", "updated_at"])
        return _to_dto(cart, cart.lines.all())

    existing = {line.product_id: line for line in target.lines.all()}
    incoming = list(cart.lines.all())
    on_sale = products.product_get_many(product_ids=[line.product_id for line in incoming])
    for line in incoming:
        product = on_sale.get(line.product_id)
        if product is None or product.status != "active":
            continue
        merged = existing.get(line.product_id)
        if merged is None and len(existing) >= MAX_LINES:
            continue
        if merged is None:
            merged = CartLine(
                cart=target,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                unit_price=line.unit_price,
                quantity=0,
            )
        most = min(MAX_LINE_QUANTITY, product.available_quantity)
        added = min(line.quantity, most - merged.quantity)
        if added <= 0:
            continue
        merged.quantity += added
        merged.save()
        existing[merged.product_id] = merged
        publish(
            events.CartItemAdded(
                cart_id=target.id,
                product_id=merged.product_id,
                sku=merged.sku,
                quantity=added,
                line_quantity=merged.quantity,
                unit_price=merged.unit_price,
            )
        )
    cart.delete()
    _touch(target)
    return _to_dto(target, target.lines.all())


@transactional
def cart_checkout(
    *,
    cart_id: UUID,
    email: str,
    payment_token: str,
    user_id: UUID | None = None,
    cart_token: str | None = None,
) -> CartDTO:
    """Reserve the cart's stock and hand it to payment: the order is placed.

    In one transaction: lock the cart, reserve every line through inventory (all or nothing,
    the cart's id as the reservation's reference), record the email and the gateway's payment
    token, move to ``checked_out``. Publishes ``CartCheckedOut``; payments takes it from there.
    A signed-in user checking out an anonymous cart by its token gets the order: the cart
    becomes theirs (and is reached by their sign-in from then on, no longer by the token).
    Raises ``CartNotFound``, ``CartNotOpen``, ``CartEmpty``, ``InvalidCheckout`` (400),
    ``ProductUnavailable`` (409, attr = the product id: a line's product was deleted, moved to
    draft or discontinued since it was added), ``OrderTooLarge`` (409: a total past what one
    payment holds) and ``OutOfStock`` (409); after any 409 nothing is reserved and the cart
    stays open. Only where inventory runs apart:
    ``CheckoutInterrupted`` (409) and ``ServiceUnavailable`` (503).
    """
    email = _valid_email(email)
    payment_token = _valid_payment_token(payment_token)
    cart = _locked_open_cart(cart_id=cart_id, user_id=user_id, cart_token=cart_token)
    lines = cart_lines(cart_id=cart.id)
    if not lines:
        raise CartEmpty()
    for_sale = products.product_get_many(product_ids=[line.product_id for line in lines])
    for line in lines:
        product = for_sale.get(line.product_id)
        if product is None or product.status != "active":
            raise ProductUnavailable(attr=str(line.product_id))
        if line.unit_price != product.price:
            # A price change this cart missed: the line was added while the change was being
            # handled (read before it, committed after ``cart.reprice_product`` looked for
            # carts holding the product). The order takes the catalog's price, as the
            # handler would have given the line.
            line.unit_price = product.price
            save_fields(line, "unit_price")
    if _total_of(lines) > MAX_AMOUNT:
        raise OrderTooLarge()

    wanted = [
        inventory.ReservationLineIn(product_id=line.product_id, quantity=line.quantity)
        for line in lines
    ]
    reservation = inventory.reservation_create(reference=cart.id, lines=wanted)
    if not _holds(reservation, wanted):
        # Only with inventory apart: an interrupted checkout of this cart left a reservation
        # that no longer matches it, or ran out. No order uses it (the cart is still open, and
        # locked), so it is made over into what the cart holds now.
        reservation = inventory.reservation_create(
            reference=cart.id, lines=wanted, renewing_expires_at=reservation.expires_at
        )
        if not _holds(reservation, wanted):
            raise CheckoutInterrupted()
    if cart.owner_id is None and user_id is not None:
        # Signed in, holding an anonymous cart's token: the order is the shopper's (their
        # in-app notices), as claiming the cart first would have made it.
        cart.owner_id = user_id
    cart.email = email
    cart.payment_token = payment_token
    cart.status = Status.CHECKED_OUT
    cart.checked_out_at = timezone.now()
    save_fields(cart, "owner", "email", "payment_token", "status", "checked_out_at", "updated_at")
    dto = _to_dto(cart, lines)
    publish(
        events.CartCheckedOut(
            cart_id=cart.id,
            user_id=cart.owner_id,
            email=email,
            lines=_event_lines(lines),
            total=dto.total,
            currency=cart.currency,
            payment_token=payment_token,
            reserved_until=reservation.expires_at,
        )
    )
    return dto


def _holds(
    reservation: inventory.ReservationDTO, wanted: Iterable[inventory.ReservationLineIn]
) -> bool:
    """Whether the reservation inventory returned holds exactly what the cart wants.

    In one process it always does: it was made in this transaction. Across services it may
    be one an interrupted checkout of this cart left behind (idempotent per reference).
    """
    held: dict[UUID, int] = {}
    for line in reservation.lines:
        held[line.product_id] = held.get(line.product_id, 0) + line.quantity
    asked: dict[UUID, int] = {}
    for want in wanted:
        asked[want.product_id] = asked.get(want.product_id, 0) + want.quantity
    return reservation.status == "active" and held == asked


def _valid_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise InvalidCheckout("Enter a valid email address.", attr="email") from exc
    return email


def _valid_payment_token(token: str) -> str:
    token = (token or "").strip()
    if not token or len(token) > MAX_PAYMENT_TOKEN_LENGTH or not token.isprintable():
        raise InvalidCheckout(
            "A payment token from the payment form is required.", attr="payment_token"
        )
    return token


# -- what other apps' events do to carts (called by handlers) -----------------------------------


@transactional
def carts_remove_product(*, product_id: UUID) -> int:
    """Take a product that is no longer sold out of every open cart. Returns the carts changed.

    Publishes ``CartItemRemoved`` (``product_discontinued``) per cart. Checked-out carts keep
    it: their stock is reserved and the order stands.
    """
    carts = list(
        Cart.objects.select_for_update(of=("self",))
        .select_related("owner")
        .filter(status=Status.OPEN, lines__product_id=product_id)
        .order_by("id")
    )
    lines = {
        line.cart_id: line
        for line in CartLine.objects.filter(cart__in=carts, product_id=product_id)
    }
    CartLine.objects.filter(pk__in=[line.pk for line in lines.values()]).delete()
    for cart in carts:
        line = lines[cart.id]
        _touch(cart)
        publish(
            events.CartItemRemoved(
                cart_id=cart.id,
                product_id=product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                reason=events.PRODUCT_DISCONTINUED,
                user_id=cart.owner_id,
                email=_customer_email(cart),
            )
        )
    return len(carts)


@transactional
def carts_reprice_product(*, product_id: UUID, unit_price: Decimal) -> int:
    """Give every open cart's line of a product the new price. Returns the lines changed.

    Publishes nothing. The carts are locked first, so a checkout in progress either sees the
    old price throughout or the new one throughout; checked-out carts keep the price they
    were ordered at.
    """
    cart_ids = list(
        Cart.objects.select_for_update()
        .filter(status=Status.OPEN, lines__product_id=product_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return (
        CartLine.objects.filter(cart_id__in=cart_ids, product_id=product_id)
        .exclude(unit_price=unit_price)
        .update(unit_price=unit_price)
    )


@transactional
def cart_mark_paid(*, cart_id: UUID, payment_id: UUID) -> bool:
    """A checked-out cart's payment went through and its stock was committed (called on
    ``StockCommitted``, never on the payment alone). Publishes ``CartPaid``.

    Returns whether the cart changed: a cart that is not ``checked_out`` (already paid, a
    replayed event) is left alone.
    """
    cart = _end_order(cart_id, Status.PAID, payment_id=payment_id)
    if cart is None:
        return False
    publish(
        events.CartPaid(
            cart_id=cart.id,
            user_id=cart.owner_id,
            email=cart.email,
            payment_id=payment_id,
            total=_total(cart),
            currency=cart.currency,
        )
    )
    return True


@transactional
def cart_mark_payment_failed(*, cart_id: UUID, payment_id: UUID, failure_code: str) -> bool:
    """A checked-out cart's payment failed for good. Publishes ``CartPaymentFailed``.

    Returns whether the cart changed (see ``cart_mark_paid``).
    """
    cart = _end_order(
        cart_id, Status.PAYMENT_FAILED, payment_id=payment_id, failure_code=failure_code[:50]
    )
    if cart is None:
        return False
    publish(
        events.CartPaymentFailed(
            cart_id=cart.id,
            user_id=cart.owner_id,
            email=cart.email,
            payment_id=payment_id,
            failure_code=cart.failure_code,
            total=_total(cart),
            currency=cart.currency,
        )
    )
    return True


@transactional
def cart_expire(*, cart_id: UUID) -> bool:
    """A checked-out cart's stock reservation ran out unpaid. Publishes ``CartExpired``.

    Returns whether the cart changed (see ``cart_mark_paid``). Only while the reservation is
    still expired: with inventory apart, an interrupted checkout's reservation can run out and
    then be renewed by the cart's next checkout, whose order this expiry is not about (its
    reservation is active, or sold, or released with a failed payment, by the time this runs).
    """
    # Locked first: a checkout of the cart under way commits (its renewal with it) before
    # the reservation is looked at.
    cart = lock_row(Cart, id=cart_id)
    if cart is not None and cart.status == Status.CHECKED_OUT and not _reservation_expired(cart_id):
        logger.info("cart %s: its reservation was renewed since it ran out; not expired", cart_id)
        return False
    cart = _end_order(cart_id, Status.EXPIRED)
    if cart is None:
        return False
    publish(
        events.CartExpired(
            cart_id=cart.id,
            user_id=cart.owner_id,
            email=cart.email,
            total=_total(cart),
            currency=cart.currency,
        )
    )
    return True


def _reservation_expired(cart_id: UUID) -> bool:
    try:
        return inventory.reservation_get(reference=cart_id).status == "expired"
    except inventory.ReservationNotFound:
        return True  # nothing holds the order's stock


def _end_order(cart_id: UUID, outcome: str, **changes: Any) -> Cart | None:
    """Move a checked-out cart to ``outcome`` with ``changes`` to its fields, and return it.

    One conditional UPDATE: it locks the cart to commit and returns the row it wrote.
    ``None``, changing nothing, when the cart is not checked out.
    """
    values = {"status": outcome, **changes, "updated_at": timezone.now()}
    params = [_db_value(name, value) for name, value in values.items()]
    params += [_db_value("id", cart_id), Status.CHECKED_OUT]
    assignments = ", ".join(f"{name} = %s" for name in values)
    sql = (
        f"UPDATE {Cart._meta.db_table} SET {assignments} WHERE id = %s AND status = %s RETURNING *"
    )
    cart = next(iter(fetch_models(Cart, sql, params)), None)
    if cart is None:
        status = Cart.objects.filter(pk=cart_id).values_list("status", flat=True).first()
        if status is not None and status != outcome:
            # Not a repeat: the order already ended another way (say, paid after it expired).
            # An operator has to look at it; the cart keeps its first outcome.
            logger.warning("cart %s is %s; not moving it to %s", cart_id, status, outcome)
    return cart


def _db_value(field_name: str, value: Any) -> Any:
    return db_value(Cart, field_name, value)


def _total(cart: Cart) -> Decimal:
    return _total_of(cart_lines(cart_id=cart.id))


def _total_of(lines: Iterable[CartLine]) -> Decimal:
    return quantize(sum((line.line_total for line in lines), Decimal(0)))
