import pytest

from bitcart.errors import Conflict, ValidationFailed
from invoices import services as invoice_services
from wallets.keys import generate_xpub
from wallets.models import Wallet
from wallets.services import wallet_create, wallet_delete

pytestmark = pytest.mark.django_db


def test_wallet_create_validates_and_refuses_duplicates(merchant, other_merchant):
    key = generate_xpub("regtest")
    wallet = wallet_create(owner=merchant, name="Main", xpub=f"  {key} ", network="regtest")
    assert (wallet.xpub, wallet.next_index, wallet.currency) == (key, 0, "BTC")
    with pytest.raises(Conflict) as info:
        wallet_create(owner=other_merchant, name="Copy", xpub=key, network="regtest")
    assert info.value.code == "wallet_exists"
    with pytest.raises(ValidationFailed) as info:
        wallet_create(owner=merchant, name="Main", xpub=generate_xpub("regtest"), network="mainnet")
    assert info.value.code == "wrong_network"
    with pytest.raises(ValidationFailed):
        wallet_create(owner=merchant, name="", xpub=generate_xpub("regtest"), network="regtest")
    with pytest.raises(ValidationFailed) as info:
        wallet_create(owner=merchant, name="Eth", xpub=generate_xpub("regtest"), network="regtest", currency="ETH")
    assert info.value.code == "unsupported_currency"
    assert Wallet.objects.count() == 1


def test_wallet_with_open_invoice_cannot_be_deleted(store, wallet):
    invoice_services.invoice_create(store=store, price="0.001", currency="BTC")
    with pytest.raises(Conflict) as info:
        wallet_delete(wallet=wallet)
    assert info.value.code == "wallet_has_open_invoices"
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_wallet_with_history_only_cannot_be_deleted_but_unused_can(store, wallet, merchant):
    invoice = invoice_services.invoice_create(store=store, price="0.001", currency="BTC")
    invoice_services.invoice_mark_invalid(invoice_id=invoice.pk)
    with pytest.raises(Conflict) as info:
        wallet_delete(wallet=wallet)
    assert info.value.code == "wallet_has_history"
    unused = wallet_create(owner=merchant, name="Spare", xpub=generate_xpub("regtest"), network="regtest")
    wallet_delete(wallet=unused)
    assert not Wallet.objects.filter(pk=unused.pk).exists()
