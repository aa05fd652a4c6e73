from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bitcart.errors import ValidationFailed
from bitcart.money import normalize_currency, validate_price
from stores.models import Discount, Product, Store


def _full_clean(instance) -> None:
    """Model validators (lengths, ranges, URLs) as one domain error."""
    try:
        instance.full_clean(exclude=["wallets", "owner", "store"])
    except DjangoValidationError as exc:
        raise ValidationFailed("Invalid data", code="validation_error", extra={"fields": exc.message_dict}) from None


def store_create(*, owner, name: str, default_currency: str = "USD", wallets=(), **checkout_settings) -> Store:
    store = Store(
        owner=owner,
        name=(name or "").strip(),
        default_currency=normalize_currency(default_currency),
        **checkout_settings,
    )
    _full_clean(store)
    wallets = list(wallets)
    for wallet in wallets:
        if wallet.owner_id != owner.pk:
            raise ValidationFailed("Wallet not found", code="wallet_not_found")
    with transaction.atomic():
        store.save()
        store.wallets.set(wallets)
    return store


def product_create(*, store: Store, name: str, price: object, quantity: int = Product.UNLIMITED, **fields) -> Product:
    product = Product(
        store=store,
        name=(name or "").strip(),
        price=validate_price(price, store.default_currency),
        quantity=quantity,
        **fields,
    )
    _full_clean(product)
    product.save()
    return product


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
