from decimal import Decimal

import pytest

from bitcart.errors import ValidationFailed
from rates.services import price_to_sat


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
def test_price_to_sat_rounds_down_exactly(price, rate, expected_sat):
    assert price_to_sat(price=Decimal(price), rate=Decimal(rate)) == expected_sat


def test_exact_boundary_at_high_precision():
    # price/rate is one satoshi minus 10^-30 BTC: a rounding division would ask for the whole satoshi.
    rate = Decimal("1") / Decimal("0.00000001")
    price = Decimal("0.999999999999999999999999999999")
    assert price_to_sat(price=price, rate=rate) == 0
    assert price_to_sat(price=Decimal(1), rate=rate) == 1


@pytest.mark.parametrize("rate", ["0", "-1", "NaN", "Infinity"])
def test_invalid_rate(rate):
    with pytest.raises(ValidationFailed):
        price_to_sat(price=Decimal("10"), rate=Decimal(rate))


def test_floats_are_refused():
    with pytest.raises(TypeError):
        price_to_sat(price=10.0, rate=Decimal("65000"))
