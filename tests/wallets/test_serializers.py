"""The wallet API's defaults."""

import pytest
from rest_framework.test import APIClient

from accounts.services import token_create
from tests.chains import set_chain
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
