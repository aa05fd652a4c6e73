"""The invoice flow through HTTP only: token → wallet → store → webhook endpoint → invoice → payment →
signed webhooks received by a local HTTP server → invoice complete."""

import pytest
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from daemons.processes import wait_for
from invoices.services import payment_apply
from wallets.keys import generate_xpub

TXID = "ab" * 32


def _status(api: APIClient, invoice_id: str, *, timeout: float = 20) -> str:
    """The invoice's status once it has left pending (bounded wait: the listener works async)."""

    def left_pending() -> str | None:
        status = api.get(f"/api/invoices/{invoice_id}").json()["status"]
        return status if status != "pending" else None

    return wait_for(left_pending, timeout=timeout, what=f"invoice {invoice_id} to leave pending")


def _drive_flow(merchant, receiver, pay) -> None:
    api = APIClient()
    login = api.post(
        "/api/token",
        {"email": "merchant@example.com", "password": "correct horse battery", "permissions": ["full_control"]},
        format="json",
    )
    assert login.status_code == 200, login.content
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access_token']}")

    wallet = api.post(
        "/api/wallets", {"name": "Main", "xpub": generate_xpub("regtest"), "network": "regtest"}, format="json"
    )
    assert wallet.status_code == 201, wallet.content
    store = api.post(
        "/api/stores",
        {
            "name": "Shop",
            "default_currency": "BTC",
            "wallets": [wallet.json()["id"]],
            "checkout_settings": {"transaction_speed": 1},
        },
        format="json",
    )
    assert store.status_code == 201, store.content
    store_id = store.json()["id"]
    endpoint = api.post(
        "/api/webhooks",
        {"store_id": store_id, "url": receiver.url, "events": ["invoice.paid", "invoice.complete"]},
        format="json",
    )
    assert endpoint.status_code == 201, endpoint.content
    secret = endpoint.json()["secret"]

    created = api.post(
        "/api/invoices",
        {"store_id": store_id, "price": "0.001", "currency": "BTC", "order_id": "A-1", "buyer_email": "b@example.com"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="flow-1",
    )
    assert created.status_code == 201, created.content
    invoice = created.json()
    assert invoice["status"] == "pending"
    assert invoice["price"] == "0.00100000"
    method = invoice["payments"][0]
    assert method["amount"] == "0.00100000"
    assert method["payment_url"].startswith(f"bitcoin:{method['payment_address']}?amount=0.00100000")

    txid = pay(method["id"], 100_000, 0)
    assert _status(api, invoice["id"]) == "paid"
    pay(method["id"], 100_000, 1)

    received = receiver.wait(2)
    assert [r.json()["type"] for r in received] == ["invoice.paid", "invoice.complete"]
    for request in received:
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["data"]["id"] == invoice["id"]
        assert payload["data"]["buyer_email"] == "b@example.com"
        assert request.headers["webhook-id"].startswith("msg_")
    assert received[0].json()["sequence"] < received[1].json()["sequence"]
    assert received[1].json()["data"]["status"] == "complete"
    assert received[1].json()["data"]["tx_hashes"] == [txid]

    final = api.get(f"/api/invoices/{invoice['id']}")
    assert final.json()["status"] == "complete"
    assert final.json()["sent_amount"] == "0.00100000"
    events = api.get("/api/webhooks/events", {"since": 0}).json()
    assert [e["type"] for e in events["result"]] == [
        "invoice.created",
        "invoice.paid",
        "invoice.complete",
    ]


@pytest.mark.django_db(transaction=True)
def test_invoice_flow_over_http_with_payment_service(merchant, receiver):
    """The payment enters where the listener hands it over (invoices.services.payment_apply)."""

    def pay(method_id: str, amount: int, confirmations: int) -> str:
        payment_apply(
            payment_method_id=method_id,
            txid=TXID,
            vout=0,
            amount=amount,
            height=101 if confirmations else None,
            confirmations=confirmations,
        )
        return TXID

    _drive_flow(merchant, receiver, pay)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_invoice_flow_over_http_with_simulator(merchant, receiver, sim, listener):
    """Same flow, paid on the simulated chain: the daemon sees it, the listener applies it."""
    from invoices.models import PaymentMethod

    txids: dict[str, str] = {}

    def pay(method_id: str, amount: int, confirmations: int) -> str:
        if confirmations == 0:
            txids[method_id] = sim.pay(PaymentMethod.objects.get(pk=method_id).address, amount)["txid"]
        else:
            sim.mine(blocks=confirmations)
        return txids[method_id]

    wait_for(listener.connected.is_set, timeout=20, what="the listener to connect")
    _drive_flow(merchant, receiver, pay)
