import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import services
from accounts.models import IdempotencyKey
from bitcart.errors import Conflict
from invoices.models import Invoice
from wallets.models import Wallet


@pytest.mark.django_db
def test_same_key_replays_the_first_response(client_merchant, store):
    body = {"store_id": store.pk, "price": "0.001"}
    first = client_merchant.post("/api/invoices", body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = client_merchant.post("/api/invoices", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Invoice.objects.count() == 1
    other = client_merchant.post("/api/invoices", body, HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.json()["id"] != first.json()["id"]
    assert Invoice.objects.count() == 2


@pytest.mark.django_db
def test_same_key_with_another_body_is_a_422(client_merchant, store):
    client_merchant.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}, HTTP_IDEMPOTENCY_KEY="k")
    reused = client_merchant.post("/api/invoices", {"store_id": store.pk, "price": "0.002"}, HTTP_IDEMPOTENCY_KEY="k")
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert Invoice.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_caller_and_errors_are_replayed_too(client_merchant, client_other, store):
    mine = client_merchant.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}, HTTP_IDEMPOTENCY_KEY="k")
    theirs = client_other.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}, HTTP_IDEMPOTENCY_KEY="k")
    assert mine.status_code == 201 and theirs.status_code == 403  # not a replay of my invoice
    bad = {"store_id": store.pk, "price": "-1"}
    first = client_merchant.post("/api/invoices", bad, HTTP_IDEMPOTENCY_KEY="bad")
    second = client_merchant.post("/api/invoices", bad, HTTP_IDEMPOTENCY_KEY="bad")
    assert first.status_code == second.status_code == 422 and second["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_patch_is_idempotent_and_key_is_validated(client_merchant, wallet):
    url = f"/api/wallets/{wallet.pk}"
    assert client_merchant.patch(url, {"label": "a"}, HTTP_IDEMPOTENCY_KEY="p").status_code == 200
    Wallet.objects.filter(pk=wallet.pk).update(label="changed elsewhere")
    replay = client_merchant.patch(url, {"label": "a"}, HTTP_IDEMPOTENCY_KEY="p")
    assert replay.json()["label"] == "a" and replay["Idempotent-Replayed"] == "true"
    assert Wallet.objects.get(pk=wallet.pk).label == "changed elsewhere"
    too_long = client_merchant.patch(url, {"label": "b"}, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert too_long.status_code == 422


@pytest.mark.django_db
def test_in_progress_key_is_a_conflict_and_expired_or_stale_keys_are_reused():
    services.idempotency_begin(caller="u", key="k", fingerprint="f")
    with pytest.raises(Conflict) as exc:
        services.idempotency_begin(caller="u", key="k", fingerprint="f")
    assert exc.value.code == "idempotency_in_progress"
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(minutes=6))
    assert services.idempotency_begin(caller="u", key="k", fingerprint="f") is None  # stale claim taken over
    services.idempotency_finish(caller="u", key="k", status_code=201, content_type="application/json", body=b"{}")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.idempotency_begin(caller="u", key="k", fingerprint="other") is None  # 24 h are over
    assert services.idempotency_purge(now=timezone.now() + timedelta(days=2)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_invoice(make_client, merchant, store):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: set DATABASE_URL to PostgreSQL (make test and CI do)")
    clients = [make_client(merchant) for _ in range(6)]
    # One token per client, same user: the key space is the user's, so all six race for one key.
    barrier = threading.Barrier(len(clients))
    results: list[int] = []

    def run(client):
        barrier.wait()
        try:
            response = client.post(
                "/api/invoices", {"store_id": store.pk, "price": "0.001"}, HTTP_IDEMPOTENCY_KEY="race"
            )
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Invoice.objects.count() == 1
    assert sorted(set(results)) <= [201, 409] and 201 in results
