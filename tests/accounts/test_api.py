import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Token
from accounts.services import token_create
from tests.http import bearer

pytestmark = pytest.mark.django_db

LOGIN = {"email": "merchant@example.com", "password": "correct horse battery"}


def test_login_returns_a_token_shown_once_and_stored_hashed(api, merchant):
    response = api.post("/api/token", {**LOGIN, "permissions": ["invoice_management"]}, format="json")
    assert response.status_code == 200
    body = response.json()
    secret = body["access_token"]
    assert body["token_type"] == "bearer"
    assert body["permissions"] == ["invoice_management"]
    assert body["user_id"] == str(merchant.pk)
    assert secret.startswith("bct_") and len(secret) >= 40
    token = Token.objects.get(pk=body["id"])
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret[:12] == token.prefix and secret not in token.prefix + token.key_hash
    # Nowhere in the token table is the secret in clear.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM apiauth_token")
        assert all(secret not in str(value) for row in cursor.fetchall() for value in row)
    # It is never shown again.
    listed = bearer(APIClient(), secret).get("/api/token/current")
    assert listed.status_code == 200 and "access_token" not in listed.json()


def test_login_by_email_is_case_insensitive_and_wrong_password_is_refused(api, merchant):
    ok = api.post("/api/token", {**LOGIN, "email": "MERCHANT@example.com"}, format="json")
    assert ok.status_code == 200
    bad = api.post("/api/token", {**LOGIN, "password": "wrong"}, format="json")
    assert bad.status_code == 401
    assert bad.json() == {"detail": "Invalid e-mail or password", "code": "invalid_credentials"}
    nobody = api.post("/api/token", {"email": "nobody@example.com", "password": "x"}, format="json")
    assert nobody.status_code == 401 and nobody.json()["code"] == "invalid_credentials"
    assert Token.objects.count() == 1


def test_login_is_rate_limited(api, merchant):
    codes = [api.post("/api/token", {**LOGIN, "password": "wrong"}, format="json").status_code for _ in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    assert api.post("/api/token", LOGIN, format="json").json()["code"] == "rate_limited"


def test_bad_expired_and_missing_tokens(api, merchant):
    assert api.get("/api/stores").status_code == 401
    assert api.get("/api/stores").json()["code"] == "not_authenticated"
    assert bearer(APIClient(), "bct_nope").get("/api/stores").json()["code"] == "invalid_token"
    token, secret = token_create(user=merchant, permissions=["full_control"])
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(APIClient(), secret).get("/api/stores")
    assert response.status_code == 401 and response.json()["code"] == "token_expired"
    merchant.is_active = False
    merchant.save()
    token2, secret2 = token_create(user=merchant, permissions=["full_control"])
    assert bearer(APIClient(), secret2).get("/api/stores").status_code == 401


@pytest.mark.parametrize(
    ("permissions", "path", "expected"),
    [
        (["invoice_management"], "/api/invoices", 200),
        (["invoice_management"], "/api/wallets", 403),
        (["invoice_management"], "/api/stores", 403),
        (["wallet_management"], "/api/wallets", 200),
        (["wallet_management"], "/api/invoices", 403),
        (["store_management"], "/api/stores", 200),
        (["product_management"], "/api/products", 200),
        (["product_management"], "/api/discounts", 403),
        (["discount_management"], "/api/discounts", 200),
        (["notification_management"], "/api/notifications", 200),
        (["template_management"], "/api/templates", 200),
        (["token_management"], "/api/token", 200),
        (["webhook_management"], "/api/webhooks", 200),
        (["webhook_management"], "/api/webhooks/events", 200),
        ([], "/api/invoices", 403),
        ([], "/api/users/me", 200),
        (["full_control"], "/api/wallets", 200),
    ],
)
def test_scopes_are_enforced(make_client, merchant, permissions, path, expected):
    response = make_client(merchant, permissions).get(path)
    assert response.status_code == expected
    if expected == 403:
        assert response.json()["code"] == "permission_denied"


def test_selective_store_scope_reaches_only_that_store(make_client, merchant, store):
    from stores.models import Store

    second = Store.objects.create(name="Second", owner=merchant, default_currency="BTC")
    client = make_client(merchant, [f"store_management:{store.pk}", f"invoice_management:{store.pk}"])
    listed = client.get("/api/stores").json()
    assert [s["id"] for s in listed["result"]] == [store.pk]
    assert client.get(f"/api/stores/{second.pk}").json().get("email") is None  # only the public view
    assert client.patch(f"/api/stores/{second.pk}", {"name": "x"}, format="json").status_code == 404
    assert client.patch(f"/api/stores/{store.pk}", {"name": "Renamed"}, format="json").status_code == 200
    assert client.post("/api/stores", {"name": "New"}, format="json").status_code == 404
    ok = client.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}, format="json")
    assert ok.status_code == 201 and "buyer_email" in ok.json()
    refused = client.post("/api/invoices", {"store_id": second.pk, "price": "0.001"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "anonymous_invoice_creation_disabled"


def test_derived_token_cannot_escalate(make_client, merchant):
    client = make_client(merchant, ["token_management", "invoice_management"])
    ok = client.post("/api/token", {"permissions": ["invoice_management"]}, format="json")
    assert ok.status_code == 200 and ok.json()["permissions"] == ["invoice_management"]
    refused = client.post("/api/token", {"permissions": ["full_control"]}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_escalation"
    lenient = client.post("/api/token", {"permissions": ["wallet_management", "invoice_management"], "strict": False})
    assert lenient.json()["permissions"] == ["invoice_management"]


def test_server_management_needs_a_superuser(api, merchant):
    refused = api.post("/api/token", {**LOGIN, "permissions": ["server_management"]}, format="json")
    assert refused.status_code == 403
    unknown = api.post("/api/token", {**LOGIN, "permissions": ["root"]}, format="json")
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_permissions"
    assert Token.objects.count() == 0


def test_users_me_and_token_management(client_merchant, merchant, other_merchant):
    me = client_merchant.get("/api/users/me").json()
    assert me["id"] == str(merchant.pk) and me["email"] == "merchant@example.com"
    other_token, _ = token_create(user=other_merchant, permissions=["full_control"])
    tokens = client_merchant.get("/api/token").json()
    assert tokens["count"] == 1 and other_token.pk not in [t["id"] for t in tokens["result"]]
    assert client_merchant.delete(f"/api/token/{other_token.pk}").status_code == 404
    assert Token.objects.filter(pk=other_token.pk).exists()
    extra, _ = token_create(user=merchant, permissions=[])
    assert client_merchant.get("/api/token/count").json() == 2
    assert client_merchant.delete(f"/api/token/{extra.pk}").status_code == 200
    assert not Token.objects.filter(pk=extra.pk).exists()


def test_token_secret_is_unusable_after_delete(make_client, merchant):
    token, secret = token_create(user=merchant, permissions=["full_control"])
    client = bearer(APIClient(), secret)
    assert client.get("/api/users/me").status_code == 200
    assert client.delete(f"/api/token/{token.pk}").status_code == 200
    assert client.get("/api/users/me").status_code == 401


def test_admin_creates_a_token_and_shows_its_secret_once(client, merchant, other_merchant):
    from django.contrib.auth.models import Group

    merchant.groups.add(Group.objects.get(name="Merchants"))
    client.force_login(merchant)  # staff, not superuser: only their own tokens
    token_create(user=other_merchant, permissions=["full_control"])
    response = client.post(
        "/admin/apiauth/token/add/",
        {"user": merchant.pk, "scopes": ["invoice_management"], "extra_scopes": "", "app_id": "shop"},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    [message] = [m for m in messages if "not shown again" in m]
    secret = message.rsplit(" ", 1)[-1]
    token = Token.objects.get(user=merchant)
    assert token.permissions == ["invoice_management"] and token.app_id == "shop"
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert bearer(APIClient(), secret).get("/api/invoices").status_code == 200
    listing = client.get("/admin/apiauth/token/").content.decode()
    assert token.prefix in listing and Token.objects.get(user=other_merchant).prefix not in listing
    refused = client.post(
        "/admin/apiauth/token/add/", {"user": merchant.pk, "scopes": ["server_management"], "extra_scopes": ""}
    )
    assert refused.status_code == 200 and Token.objects.filter(user=merchant).count() == 1
