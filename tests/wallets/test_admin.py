"""The wallet admin: the gap-limit warning and the default network."""

import pytest
from django.test import Client
from django.urls import reverse

from invoices import services
from tests.chains import set_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(merchant) -> Client:
    client = Client()
    client.force_login(merchant)
    return client


@pytest.fixture(autouse=True)
def _merchant_rights(merchant):
    from django.contrib.auth.models import Group

    merchant.groups.add(Group.objects.get(name="Merchants"))


def hand_out(store, count: int) -> None:
    for _ in range(count):
        services.invoice_create(store=store, price="0.001", currency="BTC")


def test_run_within_the_gap_limit_is_shown_without_a_warning(client, store, wallet):
    hand_out(store, 20)

    change = client.get(reverse("admin:wallets_wallet_change", args=[wallet.pk])).content.decode()
    listing = client.get(reverse("admin:wallets_wallet_changelist")).content.decode()

    assert "20 (within the gap limit of 20 that Electrum and Sparrow use by default)" in change
    assert "gap-warning" not in change
    assert '<td class="field-unused_run">20</td>' in listing


def test_run_above_the_gap_limit_warns_and_says_how_to_raise_it(client, store, wallet):
    hand_out(store, 21)

    change = client.get(reverse("admin:wallets_wallet_change", args=[wallet.pk])).content.decode()
    listing = client.get(reverse("admin:wallets_wallet_changelist")).content.decode()

    assert '<strong class="gap-warning">21 — above the gap limit of 20.</strong>' in change
    assert "<code>wallet.change_gap_limit(41)</code>" in change
    assert "Settings → Advanced → Gap limit" in change
    assert '<td class="field-unused_run"><strong class="gap-warning">21 (gap limit 20)</strong></td>' in listing


@pytest.mark.parametrize("network", ["regtest", "testnet"])
def test_new_wallet_form_defaults_to_the_servers_network(client, settings, network):
    set_chain(settings, "btc", network=network)

    form = client.get(reverse("admin:wallets_wallet_add")).context["adminform"].form

    assert form["network"].value() == network
