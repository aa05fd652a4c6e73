from decimal import Decimal

import pytest

from bitcart.errors import ValidationFailed
from bitcart.money import from_units, price_to_units, to_units


@pytest.mark.parametrize(
    ("price", "rate", "expected_sat"),
    [
        # USD: 100 / 65000.12 = 0.0015384586982... BTC
        ("100", "65000.12", 153845),
        ("0.01", "65000", 15),
        ("650", "65000", 1_000_000),  # exactly 0.01 BTC: no satoshi lost to rounding
        ("99.99", "64999.99999999", 153830),
        ("1000000000000", "65000.12", 1538458698230095),  # the largest price money.py accepts
        # EUR
        ("19.99", "57012.5", 35062),
        # JPY (no minor unit)
        ("1500", "9876543", 15187),
        # KWD (three decimal places)
        ("12.345", "19876.543", 62108),
        ("0.001", "1313.701", 76),
        # A quotient that never terminates in decimal
        ("1", "3", 33333333),
        ("0", "65000", 0),
    ],
)
def test_price_to_units_rounds_down_exactly_in_satoshis(price, rate, expected_sat):
    assert price_to_units(price=Decimal(price), rate=Decimal(rate), places=8) == expected_sat


@pytest.mark.parametrize(
    ("price", "rate", "places", "expected"),
    [
        ("100", "3120.55", 18, 32045632981365464),  # USD in wei
        ("12.5", "1.0002", 6, 12497500),  # USD in USDT units
        ("1", "3", 18, 333333333333333333),
        # The largest price at a stablecoin's rate, in 18 decimals: 31 digits, beyond any int64 and exact.
        ("1000000000000", "0.9998", 18, 1000200040008001600320064012802),
    ],
)
def test_price_to_units_rounds_down_exactly_with_any_decimals(price, rate, places, expected):
    assert price_to_units(price=Decimal(price), rate=Decimal(rate), places=places) == expected


def test_units_round_trip_with_the_coins_decimals():
    assert from_units(1000200040008001600320064012802, 18) == Decimal("1000200040008.001600320064012802")
    assert to_units(Decimal("1000200040008.001600320064012802"), 18) == 1000200040008001600320064012802
    assert str(from_units(12497500, 6)) == "12.497500"
    assert to_units(Decimal("0.0000000000000000019"), 18) == 1  # a fraction of a wei is never asked


def test_exact_boundary_at_high_precision():
    # price/rate is one satoshi minus 10^-30 BTC: a rounding division would ask for the whole satoshi.
    rate = Decimal("1") / Decimal("0.00000001")
    price = Decimal("0.999999999999999999999999999999")
    assert price_to_units(price=price, rate=rate, places=8) == 0
    assert price_to_units(price=Decimal(1), rate=rate, places=8) == 1


@pytest.mark.parametrize("rate", ["0", "-1", "NaN", "Infinity"])
def test_invalid_rate(rate):
    with pytest.raises(ValidationFailed):
        price_to_units(price=Decimal("10"), rate=Decimal(rate), places=8)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        price_to_units(price=10.0, rate=Decimal("65000"), places=8)
