"""Currencies and amounts. Money is Decimal with a currency beside it; chain amounts are ints of the coin's
smallest unit (satoshis, wei, token units), with the coin's decimals beside them (coins.registry).

One place quantizes: `quantize` for prices in their currency, `to_units`/`from_units` for the chain.
"""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from bitcart.errors import ValidationFailed
from coins.registry import SATS, coin_decimals, coins

MAX_PRICE = Decimal("1000000000000")  # 10^12 of any currency: beyond it is a typo, not an order

# ISO 4217 fiat currencies with their minor-unit exponent (the ones rate providers quote).
FIAT_CURRENCIES: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "JPY": 0,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "CNY": 2,
    "HKD": 2,
    "SGD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "TRY": 2,
    "RUB": 2,
    "UAH": 2,
    "INR": 2,
    "IDR": 2,
    "KRW": 0,
    "TWD": 2,
    "THB": 2,
    "MYR": 2,
    "PHP": 2,
    "VND": 0,
    "BRL": 2,
    "MXN": 2,
    "ARS": 2,
    "CLP": 0,
    "COP": 2,
    "PEN": 2,
    "ZAR": 2,
    "NGN": 2,
    "KES": 2,
    "ILS": 2,
    "AED": 2,
    "SAR": 2,
    "ISK": 0,
    "PKR": 2,
    "BDT": 2,
    "EGP": 2,
    "QAR": 2,
    "KWD": 3,
    "BHD": 3,
}


def currencies() -> dict[str, int]:
    """Every currency a price may be in, with its decimal places: the fiats, and the enabled coins (and SATS)."""
    from_coins = {code: places for code in coin_codes() if (places := coin_decimals(code)) is not None}
    return {**FIAT_CURRENCIES, **from_coins}


def currency_choices() -> list[tuple[str, str]]:
    """For form fields (callable choices: read when the form is built, so the enabled coins count)."""
    return [(code, code) for code in sorted(currencies())]


def coin_codes() -> list[str]:
    """The enabled coins' symbols (and SATS with bitcoin), read from the registry each time: settings decide."""
    symbols = [coin.symbol for coin in coins()]
    return [*symbols, SATS] if "BTC" in symbols else symbols


def normalize_currency(code: str) -> str:
    value = (code or "").strip().upper()
    if value not in FIAT_CURRENCIES and coin_decimals(value) is None:
        raise ValidationFailed(f"Unknown currency: {code!r}", code="unknown_currency")
    return value


def is_crypto(code: str) -> bool:
    return coin_decimals(code) is not None


def decimals(currency: str) -> int:
    value = normalize_currency(currency)
    places = FIAT_CURRENCIES.get(value)
    if places is None:
        places = coin_decimals(value)
    assert places is not None  # normalize_currency refused anything else
    return places


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse a user-given amount; floats are refused (they cannot carry money exactly)."""
    if isinstance(value, float) or isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a decimal string, not a float", code="invalid_amount")
    try:
        result = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} is not a number: {value!r}", code="invalid_amount") from None
    if not result.is_finite():
        raise ValidationFailed(f"{field} is not a finite number", code="invalid_amount")
    return result


def validate_price(value: object, currency: str, *, field: str = "price", allow_zero: bool = False) -> Decimal:
    """A positive amount with no more decimal places than the currency has."""
    amount = to_decimal(value, field=field)
    places = decimals(currency)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed(f"{field} must be greater than zero", code="invalid_amount")
    if amount > MAX_PRICE:
        raise ValidationFailed(f"{field} is too large", code="invalid_amount")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValidationFailed(
            f"{field} has more than {places} decimal places for {currency.upper()}", code="too_many_decimals"
        )
    return quantize(amount, currency)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit (half up: for display and fiat values, not for asks)."""
    return amount.quantize(Decimal(1).scaleb(-decimals(currency)), rounding=ROUND_HALF_UP)


def to_units(amount: Decimal, places: int) -> int:
    """Coin amount → smallest units, rounded down: a fractional unit is never asked of the buyer.

    Every conversion of a price into an on-chain ask goes through here, so rounding is the same
    everywhere and always in the buyer's favour by less than one unit.
    """
    with localcontext() as ctx:
        ctx.prec = 80  # 10^12 coins of 30 decimals fit exactly
        return int(amount.scaleb(places).to_integral_value(rounding=ROUND_DOWN))


def from_units(units: int, places: int) -> Decimal:
    """Smallest units → the coin amount, exact, with all the coin's decimal places."""
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_units(units: int, places: int) -> str:
    return f"{from_units(units, places):f}"


def format_coin(units: int, places: int, symbol: str) -> str:
    """'0.00123000 BTC': an on-chain amount for people (admin pages, e-mails)."""
    return f"{format_units(units, places)} {symbol}"


def price_to_units(*, price: Decimal, rate: Decimal, places: int) -> int:
    """Smallest units to ask for `price` at `rate` (price units per 1 coin), rounded down: the buyer never
    pays a fraction of a unit more than the price.

    The quotient is truncated (ROUND_DOWN) at 80 significant digits: it is then never above the exact
    value, and as both inputs have at most 28 digits it is close enough below a whole unit that
    flooring it gives exactly floor(price / rate × 10^places).
    """
    if not isinstance(price, Decimal) or not isinstance(rate, Decimal):
        raise TypeError("price_to_units takes Decimals")
    if not rate.is_finite() or rate <= 0:
        raise ValidationFailed(f"Invalid rate: {rate}", code="invalid_rate")
    if not price.is_finite() or price < 0:
        raise ValidationFailed(f"Invalid price: {price}", code="invalid_amount")
    with localcontext() as ctx:
        ctx.prec = 80
        ctx.rounding = ROUND_DOWN
        return to_units(price / rate, places)
