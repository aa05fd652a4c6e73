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


def products_reserve_stock(*, counts: dict[str, int]) -> None:
    """Decrement limited stock when an order completes; unlimited (-1) products are left alone.

    The conditional UPDATE never goes below zero, so concurrent completions cannot oversell more
    than what was in stock.
    """
    for product_id, count in counts.items():
        Product.objects.filter(pk=product_id, quantity__gte=count).update(quantity=F("quantity") - count)
