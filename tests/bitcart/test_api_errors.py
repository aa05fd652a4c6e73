"""Every unique rule a client can reach answers 409 in the API's error shape, never a 500.

These run in autocommit (transaction=True), as requests do in production: the database's
IntegrityError must reach the API's exception handler, not be hidden by a test transaction.
"""

import pytest
from django.db import IntegrityError, transaction

from bitcart.api import exception_handler, integrity_error_to_application_error
from bitcart.errors import (
    AlreadyExists,
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    ValidationFailed,
)
from invoices.services import invoice_create
from rates.errors import RateUnavailable
from stores.models import Template
from wallets.keys import generate_xpub
from wallets.models import Wallet

pytestmark = pytest.mark.django_db(transaction=True)

NAME_TAKEN = "A template with this name already exists"


def _already_exists(response, fields: dict) -> None:
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "already_exists"
    assert body["fields"] == fields


def test_duplicate_template_name_in_a_store_is_409(client_merchant, merchant, store):
    created = client_merchant.post("/api/templates", {"name": "receipt", "text": "a", "store_id": store.pk})
    assert created.status_code == 201
    again = client_merchant.post("/api/templates", {"name": "receipt", "text": "b", "store_id": store.pk})
    _already_exists(again, {"name": [NAME_TAKEN]})
    assert again.json()["detail"] == NAME_TAKEN
    assert list(Template.objects.values_list("name", "text")) == [("receipt", "a")]


def test_duplicate_template_name_without_a_store_is_409(client_merchant, merchant):
    assert client_merchant.post("/api/templates", {"name": "receipt", "text": "a"}).status_code == 201
    again = client_merchant.post("/api/templates", {"name": "receipt", "text": "b"})
    _already_exists(again, {"name": [NAME_TAKEN]})
    assert list(Template.objects.values_list("name", "text")) == [("receipt", "a")]


def test_same_template_name_in_another_scope_is_allowed(client_merchant, client_other, store):
    assert client_merchant.post("/api/templates", {"name": "receipt", "text": "a"}).status_code == 201
    assert (
        client_merchant.post("/api/templates", {"name": "receipt", "text": "a", "store_id": store.pk}).status_code
        == 201
    )
    assert client_other.post("/api/templates", {"name": "receipt", "text": "a"}).status_code == 201
    assert Template.objects.count() == 3


def test_renaming_a_template_onto_another_is_409(client_merchant, merchant, store):
    Template.objects.create(owner=merchant, store=store, name="receipt", text="a")
    other = Template.objects.create(owner=merchant, store=store, name="reminder", text="b")
    response = client_merchant.patch(f"/api/templates/{other.pk}", {"name": "receipt"})
    _already_exists(response, {"name": [NAME_TAKEN]})
    other.refresh_from_db()
    assert other.name == "reminder"


def test_connecting_a_connected_xpub_is_409(client_merchant, client_other, wallet):
    body = {"name": "again", "xpub": wallet.xpub, "currency": "BTC", "network": "regtest"}
    for client in (client_merchant, client_other):
        response = client.post("/api/wallets", body)
        assert response.status_code == 409
        assert response.json()["code"] == "wallet_exists"
    assert Wallet.objects.count() == 1


def test_a_race_past_the_service_check_is_still_409(merchant, wallet):
    """Two requests can both pass a service's check; the constraint's error is the loser's 409."""
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        Wallet.objects.create(owner=merchant, name="twin", currency="BTC", network="regtest", xpub=wallet.xpub)
    response = exception_handler(info.value, {})
    assert response is not None and response.status_code == 409
    message = "A wallet with this currency and network and xpub already exists"
    assert response.data == {
        "detail": message,
        "code": "already_exists",
        "fields": {"currency": [message], "network": [message], "xpub": [message]},
    }


def test_an_unrelated_integrity_error_stays_a_server_error(merchant):
    """A NOT NULL slip is our bug, not the client's: it must stay visible as a 500."""
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        Wallet.objects.create(owner=merchant, name=None, currency="BTC", network="regtest", xpub=generate_xpub())
    assert exception_handler(info.value, {}) is None


def test_sqlite_unique_errors_map_to_the_same_rule():
    """The embedded default runs on SQLite, whose errors name columns instead of constraints."""
    for columns in (
        "stores_template.owner_id, stores_template.name",
        "stores_template.owner_id, stores_template.store_id, stores_template.name",
    ):
        error = integrity_error_to_application_error(IntegrityError(f"UNIQUE constraint failed: {columns}"))
        assert error is not None
        assert (error.code, error.message, error.extra) == (
            "already_exists",
            NAME_TAKEN,
            {"fields": {"name": [NAME_TAKEN]}},
        )
    assert (
        integrity_error_to_application_error(IntegrityError("NOT NULL constraint failed: wallets_wallet.name")) is None
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationFailed("x"), 422),
        (RateUnavailable("x"), 422),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (AlreadyExists("x"), 409),
        (AuthenticationFailed("x"), 401),
        (PermissionDenied("x"), 403),
        (ServiceUnavailable("x"), 503),
    ],
)
def test_the_handler_maps_error_classes_to_http(error, status):
    assert not hasattr(error, "http_status")
    response = exception_handler(error, {})
    assert response is not None
    assert (response.status_code, response.data) == (status, {"detail": "x", "code": error.code})


def test_a_nul_character_in_a_query_is_422(client_merchant, store):
    """PostgreSQL cannot hold NUL in text: the fuzzer's `?query=a%00b` was a 500."""
    response = client_merchant.get("/api/invoices", {"query": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_value"


def test_a_nul_character_in_json_metadata_is_422_and_changes_nothing(client_merchant, store):
    invoice = invoice_create(store=store, price="0.001", metadata={"a": 1})
    response = client_merchant.patch(f"/api/invoices/{invoice.pk}", {"metadata": {"note": "x\x00y"}}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_value"
    invoice.refresh_from_db()
    assert invoice.metadata == {"a": 1}
