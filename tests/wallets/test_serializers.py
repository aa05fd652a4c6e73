"""The wallet API's defaults."""

import pytest
from rest_framework.test import APIClient

from accounts.services import token_create
from tests.chains import enable_eth, set_chain
from wallets.keys import generate_xpub
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("network", ["regtest", "testnet"])
def test_a_wallet_created_without_a_network_is_on_the_servers_network(merchant, settings, network):
    set_chain(settings, "btc", network=network)
    key = generate_xpub(network)
    _, secret = token_create(user=merchant, permissions=["full_control"])
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = client.post("/api/wallets", {"name": "Mine", "xpub": key}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["network"] == network
    assert Wallet.objects.get().network == network


ETH_ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55's own test vector


def test_an_ethereum_wallet_is_the_merchants_checksummed_address(client_merchant, settings):
    enable_eth(settings)

    response = client_merchant.post(
        "/api/wallets", {"name": "ETH", "xpub": ETH_ADDRESS.lower(), "currency": "eth"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["currency"], body["network"], body["xpub"]) == ("ETH", "local", ETH_ADDRESS)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"xpub": ETH_ADDRESS[:-1] + "e", "currency": "ETH"}, "invalid_address"),  # mixed case, wrong checksum
        ({"xpub": "0x1234", "currency": "ETH"}, "invalid_address"),
        ({"xpub": ETH_ADDRESS, "currency": "ETH", "network": "mainnet"}, "invalid_network"),
        ({"xpub": ETH_ADDRESS, "currency": "LTC"}, "unsupported_currency"),
    ],
)
def test_a_wrong_ethereum_wallet_is_refused_with_its_code(client_merchant, settings, payload, code):
    enable_eth(settings)

    response = client_merchant.post("/api/wallets", {"name": "ETH", **payload}, format="json")

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert not Wallet.objects.exists()


def test_ethereum_wallets_are_refused_while_eth_is_not_enabled(client_merchant):
    response = client_merchant.post(
        "/api/wallets", {"name": "ETH", "xpub": ETH_ADDRESS, "currency": "ETH"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (422, "unsupported_currency")
