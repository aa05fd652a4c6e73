"""Fiat invoices priced from collected rates, and refused, with nothing created, without one."""

import time
from decimal import Decimal

import pytest

from invoices import services
from invoices.models import Invoice
from rates.errors import RateUnavailable
from rates.services import rates_refresh
from tests.rates.conftest import consistent_bodies

pytestmark = pytest.mark.django_db


def test_usd_invoice_is_priced_at_the_median_and_records_its_rate(rate_stub, store, wallet):
    consistent_bodies(
        rate_stub,
        usd={"coingecko": "65010", "kraken": "65000", "coinbase": "64990", "bitstamp": "65020", "blockchain": "65005"},
        now=int(time.time()),
    )
    rates_refresh(currencies=["USD"])
    invoice = services.invoice_create(store=store, price="100", currency="USD")
    method = invoice.payment_methods.get()
    assert method.rate == Decimal("65005")
    assert method.rate_source.startswith("median(")
    # 100 / 65005 BTC = 153834.3204… sat, rounded down in the buyer's favour.
    assert method.amount == 153834
    assert invoice.price == Decimal("100")


def test_no_rate_refuses_the_invoice_and_uses_no_address(rate_stub, store, wallet):
    for name in ("coingecko", "kraken", "coinbase", "bitstamp", "blockchain", "ecb"):
        rate_stub.down(name, status=503)
    rates_refresh(currencies=["USD"])
    with pytest.raises(RateUnavailable) as info:
        services.invoice_create(store=store, price="100", currency="USD")
    assert info.value.code == "rate_unavailable"
    assert Invoice.objects.count() == 0
    wallet.refresh_from_db()
    assert wallet.next_index == 0


def test_btc_invoice_needs_no_rate(rate_stub, store):
    for name in ("coingecko", "kraken", "coinbase", "bitstamp", "blockchain", "ecb"):
        rate_stub.down(name, status=503)
    invoice = services.invoice_create(store=store, price="0.5", currency="BTC")
    assert invoice.payment_methods.get().amount == 50_000_000
