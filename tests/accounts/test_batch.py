"""POST /api/{resource}/batch keeps Bitcart's request ({"ids", "command"}) and says what it did."""

import pytest

from invoices.models import Invoice, InvoiceStatus
from invoices.services import invoice_create
from stores.models import Template
from wallets.keys import generate_xpub
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


def test_batch_delete_answers_the_ids_it_deleted(client_merchant, merchant):
    templates = [Template.objects.create(owner=merchant, name=f"t{i}", text="x") for i in range(3)]
    ids = [templates[2].pk, templates[0].pk]
    response = client_merchant.post("/api/templates/batch", {"ids": ids, "command": "delete"})
    assert response.status_code == 200
    assert response.json() == {"command": "delete", "done": ids, "failed": []}
    assert list(Template.objects.values_list("pk", flat=True)) == [templates[1].pk]


def test_batch_with_another_merchants_id_is_404_and_does_nothing(
    client_merchant, client_other, merchant, other_merchant
):
    mine = Template.objects.create(owner=merchant, name="mine", text="x")
    theirs = Template.objects.create(owner=other_merchant, name="theirs", text="x")
    response = client_other.post("/api/templates/batch", {"ids": [theirs.pk, mine.pk], "command": "delete"})
    assert response.status_code == 404
    assert response.json() == {
        "detail": "1 of the ids are unknown or not yours; nothing was done",
        "code": "not_found",
        "ids": [mine.pk],
    }
    assert Template.objects.count() == 2  # not even the caller's own one was deleted


def test_batch_with_unknown_ids_only_is_404(client_merchant, wallet):
    response = client_merchant.post("/api/wallets/batch", {"ids": ["nope", "nope"], "command": "delete"})
    assert response.status_code == 404
    assert response.json()["ids"] == ["nope"]
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_batch_reports_ids_the_command_did_not_apply_to(client_merchant, store):
    pending = invoice_create(store=store, price="0.001")
    complete = invoice_create(store=store, price="0.001")
    Invoice.objects.filter(pk=complete.pk).update(status=InvoiceStatus.COMPLETE)
    response = client_merchant.post(
        "/api/invoices/batch", {"ids": [complete.pk, pending.pk], "command": "mark_invalid"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["done"] == [pending.pk]
    assert [(f["id"], f["code"]) for f in body["failed"]] == [(complete.pk, "transition_not_allowed")]
    assert dict(Invoice.objects.values_list("pk", "status")) == {
        pending.pk: InvoiceStatus.INVALID,
        complete.pk: InvoiceStatus.COMPLETE,
    }


def test_one_failing_id_does_not_undo_the_others(client_merchant, merchant, store, wallet):
    invoice_create(store=store, price="0.001")  # an open invoice: its wallet cannot go
    spare = Wallet.objects.create(owner=merchant, name="Spare", currency="BTC", network="regtest", xpub=generate_xpub())
    response = client_merchant.post("/api/wallets/batch", {"ids": [wallet.pk, spare.pk], "command": "delete"})
    assert response.status_code == 200
    body = response.json()
    assert body["done"] == [spare.pk]
    assert [(f["id"], f["code"]) for f in body["failed"]] == [(wallet.pk, "wallet_has_open_invoices")]
    assert list(Wallet.objects.values_list("pk", flat=True)) == [wallet.pk]


def test_unknown_command_is_422(client_merchant, merchant):
    template = Template.objects.create(owner=merchant, name="t", text="x")
    response = client_merchant.post("/api/templates/batch", {"ids": [template.pk], "command": "explode"})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_command"
    assert Template.objects.count() == 1


def test_batch_response_is_documented(api):
    schema = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    responses = schema["paths"]["/api/templates/batch"]["post"]["responses"]
    assert set(responses["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1:]) == {"BatchResult"}
    assert responses["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/BatchNotFound")


def test_batch_needs_a_token(api, merchant):
    template = Template.objects.create(owner=merchant, name="t", text="x")
    response = api.post("/api/templates/batch", {"ids": [template.pk], "command": "delete"}, format="json")
    assert response.status_code == 401
    assert Template.objects.count() == 1


def test_a_token_for_one_store_reaches_only_that_store(make_client, merchant, store):
    in_store = Template.objects.create(owner=merchant, store=store, name="a", text="x")
    owner_wide = Template.objects.create(owner=merchant, name="b", text="x")
    client = make_client(merchant, [f"template_management:{store.pk}"])
    response = client.post("/api/templates/batch", {"ids": [in_store.pk, owner_wide.pk], "command": "delete"})
    assert (response.status_code, response.json()["ids"]) == (404, [owner_wide.pk])
    assert Template.objects.count() == 2
    response = client.post("/api/templates/batch", {"ids": [in_store.pk], "command": "delete"})
    assert response.json() == {"command": "delete", "done": [in_store.pk], "failed": []}
    assert list(Template.objects.values_list("pk", flat=True)) == [owner_wide.pk]
