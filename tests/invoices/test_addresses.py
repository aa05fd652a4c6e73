import pytest

from invoices import services
from invoices.models import PaymentMethod
from wallets.keys import derive_receive_address

pytestmark = pytest.mark.django_db


def test_thousands_of_invoices_never_share_an_address(store, wallet):
    for _ in range(3000):
        services.invoice_create(store=store, price="0.0001", currency="BTC")
    rows = list(PaymentMethod.objects.values_list("derivation_index", "address"))
    assert len(rows) == 3000
    assert len({address for _, address in rows}) == 3000
    assert sorted(index for index, _ in rows) == list(range(3000))
    # Spot-check that each stored address is the one its index derives.
    for index, address in rows[::500]:
        assert address == derive_receive_address(wallet.xpub, "regtest", index)
