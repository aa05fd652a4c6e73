import pytest
from django.core.cache import cache

from invoices.services import invoice_create


@pytest.fixture
def invoice(store):
    return invoice_create(store=store, price="0.001", currency="BTC")


@pytest.fixture(autouse=True)
def _fresh_invoice_throttle():
    """The store pages share the API's per-IP budget for anonymous invoices (kept in Redis, which
    outlives a test run); every test starts with a full budget for the test client's address."""
    cache.delete("throttle_invoice_anon_127.0.0.1")
