"""What README's "First API call" says a token without scopes can do: prove who it is, nothing more."""

import pytest

from accounts.services import token_create
from tests.http import bearer

pytestmark = pytest.mark.django_db

DENIED = {"detail": "Not enough permissions", "code": "permission_denied"}
LISTS = ("stores", "wallets", "invoices", "products", "discounts", "notifications", "templates", "token", "webhooks")


def test_a_token_without_scopes_reads_itself_and_is_refused_everything_else(api, merchant, store):
    token, secret = token_create(user=merchant, permissions=[])
    client = bearer(api, secret)

    assert client.get("/api/users/me").json()["email"] == "merchant@example.com"
    assert client.get("/api/token/current").json()["id"] == token.pk
    refused = {name: (r.status_code, r.json()) for name in LISTS for r in [client.get(f"/api/{name}")]}
    assert refused == dict.fromkeys(LISTS, (403, DENIED))
    # Creating an invoice is what an anonymous buyer may do on stores that allow it: without
    # invoice_management the token is answered as one.
    response = client.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}, format="json")
    assert (response.status_code, response.json()) == (
        403,
        {
            "detail": "This store does not accept invoices from anonymous callers",
            "code": "anonymous_invoice_creation_disabled",
        },
    )
    assert store.invoices.count() == 0
