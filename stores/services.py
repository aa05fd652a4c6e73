"""Writes of stores and what hangs off them (products, discounts, notification providers, templates).

The API, the admin and the store pages call these; each rule lives here once:
- a product's price is positive and has no more decimals than its store's currency
  (product_price_validate), and changing a store's currency keeps that true for its products;
- a store uses only wallets of its owner;
- a discount's currencies are known codes, normalized;
- a notification provider's URL is an Apprise URL (scheme://...);
- a template's name is unique per owner and store (owner-wide templates, store NULL, included: a
  partial unique constraint holds it too, so a race ends in a 409), and its store is one of the owner's.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F, Model, ProtectedError, RestrictedError
from django.utils import timezone

from bitcart.errors import AlreadyExists, Conflict, ValidationFailed
from bitcart.money import normalize_currency, validate_price
from stores.models import Discount, NotificationProvider, Product, Store, Template

_RELATIONS = ("wallets", "owner", "store")


def _full_clean(instance: Model, *, only: Iterable[str] | None = None) -> None:
    """Model validators (lengths, ranges, URLs) as one domain error; `only`: just these fields."""
    exclude = set(_RELATIONS)
    if only is not None:
        exclude |= {f.name for f in instance._meta.fields} - set(only)
    try:
        instance.full_clean(exclude=sorted(exclude))
    except DjangoValidationError as exc:
        raise ValidationFailed("Invalid data", code="validation_error", extra={"fields": exc.message_dict}) from None


def _save_changes(instance: Model, fields: dict[str, Any]) -> None:
    """Set the given fields, validate them, and write just them (a full save would write back
    columns another request changed meanwhile)."""
    concrete = {f.name for f in instance._meta.concrete_fields}
    unknown = sorted(set(fields) - concrete)
    if unknown:
        raise TypeError(f"{type(instance).__name__} has no fields {unknown}")
    for name, value in fields.items():
        setattr(instance, name, value)
    _full_clean(instance, only=fields)
    if fields:
        auto = [f.name for f in instance._meta.concrete_fields if getattr(f, "auto_now", False)]
        instance.save(update_fields=[*fields, *auto])


def _delete(instance: Model) -> None:
    try:
        instance.delete()
    except (ProtectedError, RestrictedError):
        raise Conflict("It is still in use (e.g. by invoices) and cannot be deleted", code="in_use") from None


# --- stores ---------------------------------------------------------------------------------------


def store_wallets_validate(*, owner_id: Any, wallets: Iterable[Any]) -> list[Any]:
    wallets = list(wallets)
    if any(wallet.owner_id != owner_id for wallet in wallets):
        raise ValidationFailed("A store can only use wallets of its owner", code="wallet_not_found")
    return wallets


def store_currency_validate(*, store: Store, currency: str) -> str:
    """The store's (new) default currency: a known code in which every product price still fits."""
    currency = normalize_currency(currency)
    if store.pk is not None and currency != store.default_currency:
        for product in Product.objects.filter(store_id=store.pk).only("name", "price"):
            try:
                validate_price(product.price, currency)
            except ValidationFailed as exc:
                raise ValidationFailed(
                    f"Product {product.name!r}: {exc.message}; change its price first",
                    code="product_price_not_in_currency",
                ) from None
    return currency


def store_create(*, owner, name: str, default_currency: str = "USD", wallets=(), **checkout_settings) -> Store:
    store = Store(
        owner=owner,
        name=(name or "").strip(),
        default_currency=normalize_currency(default_currency),
        **checkout_settings,
    )
    _full_clean(store)
    wallets = store_wallets_validate(owner_id=owner.pk, wallets=wallets)
    with transaction.atomic():
        store.save()
        store.wallets.set(wallets)
    return store


def store_update(*, store: Store, wallets: Iterable[Any] | None = None, **fields: Any) -> Store:
    """Change the given fields (and, if given, the wallets) of a store."""
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        if "name" in fields:
            fields["name"] = (fields["name"] or "").strip()
        if "default_currency" in fields:
            fields["default_currency"] = store_currency_validate(store=locked, currency=fields["default_currency"])
        owner_id = fields["owner"].pk if "owner" in fields else locked.owner_id
        checked = None if wallets is None else store_wallets_validate(owner_id=owner_id, wallets=wallets)
        _save_changes(locked, fields)
        if checked is not None:
            locked.wallets.set(checked)
    return locked


def store_delete(*, store: Store) -> None:
    _delete(store)


# --- products -------------------------------------------------------------------------------------


def product_price_validate(*, store: Store, price: object) -> Decimal:
    """A product is priced in its store's default currency: positive, with no more decimal places
    than that currency has. (The admin's inline passes the store with the currency just posted.)"""
    return validate_price(price, store.default_currency)


def product_create(*, store: Store, name: str, price: object, quantity: int = Product.UNLIMITED, **fields) -> Product:
    product = Product(
        store=store,
        name=(name or "").strip(),
        price=product_price_validate(store=store, price=price),
        quantity=quantity,
        **fields,
    )
    _full_clean(product)
    product.save()
    return product


def product_update(*, product: Product, **fields: Any) -> Product:
    """Change the given fields of a product (it stays in its store)."""
    if "store" in fields or "store_id" in fields:
        raise ValidationFailed("A product stays in its store", code="product_store_fixed")
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
    if "price" in fields:
        fields["price"] = product_price_validate(store=product.store, price=fields["price"])
    _save_changes(product, fields)
    return product


def product_delete(*, product: Product) -> None:
    _delete(product)


# --- discounts ------------------------------------------------------------------------------------


def discount_currencies_clean(value: str) -> str:
    """'usd, eur,usd' → 'USD,EUR'; empty means every currency."""
    codes = [code.strip() for code in (value or "").split(",") if code.strip()]
    return ",".join(dict.fromkeys(normalize_currency(code) for code in codes))


def discount_create(*, store: Store, **fields: Any) -> Discount:
    if "currencies" in fields:
        fields["currencies"] = discount_currencies_clean(fields["currencies"])
    discount = Discount(store=store, **fields)
    _full_clean(discount)
    discount.save(force_insert=True)
    return discount


def discount_update(*, discount: Discount, **fields: Any) -> Discount:
    if "currencies" in fields:
        fields["currencies"] = discount_currencies_clean(fields["currencies"])
    _save_changes(discount, fields)
    return discount


def discount_delete(*, discount: Discount) -> None:
    _delete(discount)


# --- notification providers -----------------------------------------------------------------------


def notification_provider_url_clean(value: str) -> str:
    url = (value or "").strip()
    if "://" not in url:
        raise ValidationFailed("Give an Apprise URL: scheme://…", code="invalid_notification_url")
    return url


def notification_provider_create(*, store: Store, url: str, **fields: Any) -> NotificationProvider:
    provider = NotificationProvider(store=store, url=notification_provider_url_clean(url), **fields)
    _full_clean(provider)
    provider.save(force_insert=True)
    return provider


def notification_provider_update(*, provider: NotificationProvider, **fields: Any) -> NotificationProvider:
    if "url" in fields:
        fields["url"] = notification_provider_url_clean(fields["url"])
    _save_changes(provider, fields)
    return provider


def notification_provider_delete(*, provider: NotificationProvider) -> None:
    _delete(provider)


# --- templates ------------------------------------------------------------------------------------


def template_validate(*, owner_id: Any, store: Store | None, name: str, exclude_id: Any = None) -> None:
    """The template's store is one of its owner's, and its name is free for that owner and store."""
    if store is not None and store.owner_id != owner_id:
        raise ValidationFailed("A template can only belong to a store of its owner", code="store_not_found")
    duplicates = Template.objects.filter(owner_id=owner_id, store=store, name=name).exclude(pk=exclude_id)
    if duplicates.exists():
        # The same answer the API gives when the unique constraint itself refuses (a lost race).
        message = "A template with this name already exists"
        raise AlreadyExists(message, extra={"fields": {"name": [message]}})


def template_create(*, owner, store: Store | None, name: str, text: str) -> Template:
    with transaction.atomic():
        # The owner's row serializes template writes, so the duplicate check holds for store=NULL too.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        template_validate(owner_id=owner.pk, store=store, name=name)
        template = Template(owner=owner, store=store, name=name, text=text)
        _full_clean(template)
        template.save(force_insert=True)
    return template


def template_update(*, template: Template, **fields: Any) -> Template:
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=template.owner_id).first()
        if {"name", "store", "owner"} & set(fields):
            template_validate(
                owner_id=fields["owner"].pk if "owner" in fields else template.owner_id,
                store=fields.get("store", template.store),
                name=fields.get("name", template.name),
                exclude_id=template.pk,
            )
        _save_changes(template, fields)
    return template


def template_delete(*, template: Template) -> None:
    _delete(template)


def discount_find(*, store: Store, promocode: str, currency: str) -> Discount | None:
    """The best discount a promocode gives now for this currency (None if it gives none)."""
    if not promocode:
        return None
    candidates = Discount.objects.filter(store=store, promocode=promocode, end_date__gt=timezone.now())
    usable = [d for d in candidates if not d.currency_list or currency in d.currency_list]
    return max(usable, key=lambda d: d.percent, default=None)


def discount_apply(*, price: Decimal, discount: Discount | None) -> Decimal:
    if discount is None:
        return price
    return price * (Decimal(100) - Decimal(discount.percent)) / Decimal(100)


class OutOfStock(ValidationFailed):
    """Products asked for beyond what is in stock; `extra["products"]` lists each one short."""

    code = "out_of_stock"


def _short(product: Product, count: int) -> dict:
    return {"id": product.pk, "name": product.name, "requested": count, "in_stock": max(product.quantity, 0)}


def products_check_stock(*, items: list[tuple[Product, int]]) -> None:
    """Refuse (OutOfStock) an order for more than the stock read in `items`; unlimited products pass.

    A read, before anything is written: the reservation (products_reserve_stock) decides races."""
    short = [
        _short(product, count)
        for product, count in items
        if product.quantity != Product.UNLIMITED and product.quantity < count
    ]
    if short:
        raise OutOfStock(_out_of_stock_message(short), extra={"products": short})


def _out_of_stock_message(short: list[dict]) -> str:
    return "; ".join(
        f"Product {p['name']} is out of stock ({p['in_stock']} left, {p['requested']} asked)" for p in short
    )


def products_reserve_stock(*, counts: dict[str, int]) -> list[str]:
    """Take `counts` out of limited stock, all or nothing; returns the ids of the products taken.

    Each product is one conditional UPDATE (`quantity >= count`), so two orders racing for the last
    item cannot both get it: the second UPDATE, waiting on the first one's row lock, re-reads the
    row and matches nothing. Products are locked in id order (no deadlock between two multi-product
    orders). If any product is short nothing is taken (a savepoint) and OutOfStock lists every short
    product. Unlimited products (-1) are left alone.
    """
    if not counts:
        return []
    taken: list[str] = []
    short: list[dict] = []
    with transaction.atomic():
        for product_id in sorted(counts):
            count = counts[product_id]
            if Product.objects.filter(pk=product_id, quantity__gte=count).update(quantity=F("quantity") - count):
                taken.append(product_id)
                continue
            product = Product.objects.filter(pk=product_id).only("name", "quantity").first()
            if product is not None and product.quantity != Product.UNLIMITED:
                short.append(_short(product, count))
        if short:
            raise OutOfStock(_out_of_stock_message(short), extra={"products": short})  # undoes the savepoint
    return taken


def products_release_stock(*, counts: dict[str, int]) -> None:
    """Give `counts` back to stock (an order that will not be paid). A product made unlimited since
    stays unlimited."""
    for product_id in sorted(counts):
        Product.objects.filter(pk=product_id, quantity__gte=0).update(quantity=F("quantity") + counts[product_id])
