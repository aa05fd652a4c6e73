import json
import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from invoices.models import InvoiceEvent, Payment
from invoices.services import invoice_create, invoice_mark_complete, invoice_mark_invalid, payment_apply
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookEvent, WebhookMessage

pytestmark = pytest.mark.django_db


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/down"


def attempt_seconds(message: WebhookMessage) -> float:
    """How long the attempt took (the backoff counts from its end)."""
    return WebhookAttempt.objects.filter(message=message).order_by("-id")[0].latency_ms / 1000 + 0.1


# Endpoints here follow status changes; invoice.created (recorded when an invoice is created) is
# covered by the HTTP flow test.
STATUS_EVENTS = [t for t in services.EVENT_TYPES if t != services.EVENT_CREATED]


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Run a status change and its after-commit delivery (Celery is eager in tests)."""

    def _run(func, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(**kwargs)

    return _run


def test_signature_verifies_and_fails_when_tampered_or_replayed_late(store, receiver, deliver):
    endpoint = services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    invoice = invoice_create(store=store, price="0.001")
    deliver(invoice_mark_complete, invoice_id=invoice.pk)
    [request] = receiver.wait(1)
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "invoice.complete"
    assert payload["data"]["id"] == invoice.pk and payload["data"]["status"] == "complete"
    assert payload["previous_status"] == "pending"
    assert payload["id"].startswith("evt_") and isinstance(payload["sequence"], int)
    assert request.headers["webhook-id"] == f"msg_{WebhookMessage.objects.get().pk}"

    tampered = request.body.replace(b'"complete"', b'"pending"')
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(services.secret_generate()).verify(request.body, request.headers)
    # A captured request replayed later: its old timestamp is outside the 5-minute tolerance...
    old = timezone.now() - timedelta(minutes=6)
    late = {
        **request.headers,
        "webhook-timestamp": str(int(old.timestamp())),
        "webhook-signature": services.sign(
            endpoint=endpoint, msg_id=request.headers["webhook-id"], timestamp=old, body=request.body.decode()
        ),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(endpoint.secret).verify(request.body, late)
    # ...and moving the timestamp forward breaks the signature.
    moved = {**request.headers, "webhook-timestamp": str(int(timezone.now().timestamp()) + 1)}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(endpoint.secret).verify(request.body, moved)


def test_rotation_signs_with_both_secrets_during_the_grace_period(store, receiver, deliver):
    endpoint = services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    old_secret = endpoint.secret
    rotated = services.webhook_endpoint_rotate_secret(endpoint=endpoint, grace=timedelta(hours=1))
    assert rotated.secret != old_secret
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    [request] = receiver.wait(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(request.body, request.headers)
    Webhook(rotated.secret).verify(request.body, request.headers)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    second = receiver.wait(2)[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated.secret).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(second.body, second.headers)


def test_failures_are_logged_and_retried_with_backoff_then_delivered(store, receiver, deliver):
    receiver.status = 500
    endpoint = services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    message = WebhookMessage.objects.get()
    assert (message.status, message.attempts, message.last_error) == ("pending", 1, "HTTP 500")
    delay = (message.next_attempt_at - message.last_attempt_at).total_seconds()
    assert 4.5 <= delay <= 5.5 + attempt_seconds(message)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.response_status, attempt.response_body, attempt.success) == (500, "nope", False)
    assert attempt.latency_ms >= 0 and attempt.request_headers["webhook-id"] == f"msg_{message.pk}"
    assert "webhook-signature" not in attempt.request_headers
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 1
    # Not due yet: the sweep leaves it alone.
    assert services.webhooks_dispatch_due() == 0
    receiver.status = 200
    assert services.webhooks_dispatch_due(now=timezone.now() + timedelta(seconds=6)) == 1
    services.webhook_message_deliver(message_id=message.pk)  # the sweep only queues when due in real time
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert services.webhooks_dispatch_due() == 1  # eager: delivered right here
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert receiver.requests[0].body == receiver.requests[1].body
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0


def test_backoff_covers_more_than_72_hours_then_gives_up(store, receiver):
    assert sum(services.BACKOFF, timedelta()) >= timedelta(hours=72)
    assert list(services.BACKOFF) == sorted(services.BACKOFF)
    receiver.status = 503
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    invoice_mark_invalid(invoice_id=invoice_create(store=store, price="0.001").pk)
    message = WebhookMessage.objects.get()
    for _ in range(services.MAX_ATTEMPTS):
        WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        services.webhook_message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", services.MAX_ATTEMPTS)
    assert services.webhook_message_deliver(message_id=message.pk) is None  # nothing more is sent
    assert len(receiver.requests) == services.MAX_ATTEMPTS


def test_endpoint_is_disabled_after_persistent_failure_and_the_merchant_told(store, deliver):
    endpoint = services.webhook_endpoint_create(store=store, url=_closed_port_url(), events=STATUS_EVENTS)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=19, failing_since=timezone.now() - timedelta(hours=73)
    )
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "disabled" in endpoint.disabled_reason
    assert WebhookAttempt.objects.get().error.startswith("ConnectError")
    assert len(mail.outbox) == 1 and endpoint.url in mail.outbox[0].subject
    assert mail.outbox[0].to == ["merchant@example.com"]
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    assert WebhookMessage.objects.count() == 1  # disabled endpoints get no new messages
    services.webhook_endpoint_update(endpoint=endpoint, enabled=True)
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures, endpoint.failing_since) == (True, 0, None)


def test_one_failing_endpoint_does_not_hold_up_another(store, receiver, deliver):
    services.webhook_endpoint_create(store=store, url=_closed_port_url(), events=STATUS_EVENTS)
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    assert len(receiver.wait(1)) == 1
    assert sorted(WebhookMessage.objects.values_list("status", flat=True)) == ["delivered", "pending"]


def test_subscriptions_and_bitcart_notification_url(store, receiver, deliver):
    endpoint = services.webhook_endpoint_create(store=store, url=receiver.url, events=["invoice.complete"])
    invoice = invoice_create(store=store, price="0.001", notification_url=receiver.url + "/ipn")
    deliver(invoice_mark_invalid, invoice_id=invoice.pk)
    [ipn] = receiver.wait(1)
    assert ipn.path == "/hook/ipn"
    assert json.loads(ipn.body) == {"id": invoice.pk, "status": "invalid"}
    assert "webhook-signature" not in ipn.headers
    deliver(invoice_mark_complete, invoice_id=invoice.pk)
    requests = receiver.wait(3)
    assert sorted(r.path for r in requests) == ["/hook", "/hook/ipn", "/hook/ipn"]
    hook = next(r for r in requests if r.path == "/hook")
    assert Webhook(endpoint.secret).verify(hook.body, hook.headers)["type"] == "invoice.complete"


def test_recording_is_transactional_and_idempotent(store):
    invoice = invoice_create(store=store, price="0.001")
    invoice_mark_invalid(invoice_id=invoice.pk)
    event = InvoiceEvent.objects.filter(invoice=invoice, kind="status").get()
    assert services.webhook_event_record(invoice=invoice, event=event) is None
    assert WebhookEvent.objects.filter(invoice_event=event).count() == 1
    assert services.webhook_event_type(event) == "invoice.invalid"


def test_a_lost_task_is_picked_up_by_the_sweep(store, receiver):
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    # No on-commit callbacks run in this test transaction: exactly what a lost task looks like.
    invoice_mark_invalid(invoice_id=invoice_create(store=store, price="0.001").pk)
    assert receiver.requests == []
    assert services.webhooks_dispatch_due() == 1
    assert len(receiver.wait(1)) == 1
    assert WebhookMessage.objects.get().status == "delivered"


def test_a_message_is_claimed_once(store, receiver):
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    invoice_mark_invalid(invoice_id=invoice_create(store=store, price="0.001").pk)
    message = WebhookMessage.objects.get()
    assert services._claim(message.pk, timezone.now())
    assert services.webhook_message_deliver(message_id=message.pk) is None  # held by the first worker
    assert receiver.requests == []


@override_settings(WEBHOOKS_ALLOW_PRIVATE=False)
def test_private_targets_are_refused_in_production(store, receiver, deliver):
    for url in ("http://127.0.0.1/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x"):
        with pytest.raises(services.UnsafeTarget):
            services.url_check(url)
    with pytest.raises(services.UnsafeTarget):
        services.url_check("file:///etc/passwd")
    services.url_check("http://8.8.8.8/hook")  # a public literal address passes
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    assert receiver.requests == []
    message = WebhookMessage.objects.get()
    assert message.status == "failed" and message.last_error.startswith("refused")


def test_redirects_are_not_followed(store, receiver, deliver):
    receiver.status = 302
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    deliver(invoice_mark_invalid, invoice_id=invoice_create(store=store, price="0.001").pk)
    assert len(receiver.wait(1)) == 1
    assert WebhookMessage.objects.get().last_error == "HTTP 302"


def test_endpoint_api_and_events_feed(client_merchant, store, receiver):
    bad = client_merchant.post("/api/webhooks", {"store_id": store.pk, "url": receiver.url, "events": ["nope"]})
    assert bad.status_code == 422
    created = client_merchant.post("/api/webhooks", {"store_id": store.pk, "url": receiver.url})
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    endpoint_id = created.json()["id"]
    assert "secret" not in client_merchant.get("/api/webhooks").json()["result"][0]
    rotated = client_merchant.post(f"/api/webhooks/{endpoint_id}/rotate_secret", {"grace_seconds": 60})
    assert rotated.status_code == 200 and rotated.json()["secret"] != created.json()["secret"]
    off = client_merchant.patch(f"/api/webhooks/{endpoint_id}", {"enabled": False})
    assert off.json()["enabled"] is False

    invoices = []
    for _ in range(2):
        invoices.append(invoice_create(store=store, price="0.001"))
        invoice_mark_invalid(invoice_id=invoices[-1].pk)
    # The feed holds every event in order: created then invalid, per invoice.
    page = client_merchant.get("/api/webhooks/events", {"limit": 3}).json()
    assert [(e["invoice_id"], e["type"]) for e in page["result"]] == [
        (invoices[0].pk, "invoice.created"),
        (invoices[0].pk, "invoice.invalid"),
        (invoices[1].pk, "invoice.created"),
    ]
    assert page["result"][1]["payload"]["data"]["status"] == "invalid"
    since = page["result"][-1]["sequence"]
    assert f"since={since}" in page["next"]
    rest = client_merchant.get("/api/webhooks/events", {"since": since}).json()
    assert [(e["invoice_id"], e["type"]) for e in rest["result"]] == [(invoices[1].pk, "invoice.invalid")]
    assert rest["next"] is None
    assert client_merchant.get("/api/webhooks/events", {"since": -1}).status_code == 422


def test_admin_bulk_redelivery(client, store, receiver, merchant):
    merchant.is_superuser = True
    merchant.save()
    services.webhook_endpoint_create(store=store, url=receiver.url, events=STATUS_EVENTS)
    receiver.status = 500
    invoice_mark_invalid(invoice_id=invoice_create(store=store, price="0.001").pk)
    services.webhooks_dispatch_due()
    message = WebhookMessage.objects.get()
    assert message.status == "pending" and message.attempts == 1
    receiver.status = 200
    client.force_login(merchant)
    response = client.post(
        "/admin/webhooks/webhookmessage/",
        {"action": "redeliver", "_selected_action": [message.pk]},
    )
    assert response.status_code == 302
    # The admin request commits; in this test transaction the on-commit queueing is the sweep's job.
    services.webhooks_dispatch_due()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("delivered", 2)
    assert client.get(f"/admin/webhooks/webhookmessage/{message.pk}/change/").status_code == 200
    assert client.get("/admin/webhooks/webhookattempt/").status_code == 200
    assert client.get("/admin/webhooks/webhookendpoint/").status_code == 200


def test_admin_shows_merchants_only_their_own_webhooks(client, store, other_merchant):
    from django.contrib.auth.models import Group

    endpoint = services.webhook_endpoint_create(store=store, url="http://127.0.0.1:9/mine", events=STATUS_EVENTS)
    invoice_mark_invalid(invoice_id=invoice_create(store=store, price="0.001").pk)
    message = WebhookMessage.objects.get()
    WebhookMessage.objects.filter(pk=message.pk).update(status="failed", next_attempt_at=None)
    other_merchant.groups.add(Group.objects.get(name="Merchants"))
    client.force_login(other_merchant)
    assert endpoint.url not in client.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert message.pk not in client.get("/admin/webhooks/webhookmessage/").content.decode()
    client.post("/admin/webhooks/webhookmessage/", {"action": "redeliver", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert (message.status, message.next_attempt_at) == ("failed", None)  # not another merchant's to redeliver
    response = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    # Django's admin answers an object outside the queryset like a deleted one: back to the index.
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert endpoint.secret not in response.content.decode()


def test_the_event_snapshot_carries_the_payment_ledger(store, receiver, deliver):
    endpoint = services.webhook_endpoint_create(store=store, url=receiver.url, events=["invoice.complete"])
    invoice = invoice_create(store=store, price="0.001")
    method = invoice.payment_methods.get()
    deliver(
        payment_apply, payment_method_id=method.pk, txid="c" * 64, vout=1, amount=100_000, height=7, confirmations=1
    )
    [request] = receiver.wait(1)
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    payment = Payment.objects.get(payment_method=method)
    assert payload["type"] == "invoice.complete"
    assert payload["data"]["payments_received"] == [
        {
            "payment_method": method.pk,
            "currency": "BTC",
            "address": method.address,
            "txid": "c" * 64,
            "vout": 1,
            "amount": "0.00100000",
            "amount_units": "100000",
            "height": 7,
            "confirmations": 1,
            "state": "confirmed",
            "created": payment.created.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_invoice_creation_fans_out_through_the_same_hook(store, receiver, django_capture_on_commit_callbacks):
    services.webhook_endpoint_create(store=store, url=receiver.url, events=["invoice.created"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        invoice = invoice_create(store=store, price="0.001", currency="BTC")

    assert len(callbacks) == 1
    [request] = receiver.wait(1)
    assert request.json()["type"] == "invoice.created"
    assert request.json()["data"]["id"] == invoice.pk
    assert InvoiceEvent.objects.get(invoice=invoice, kind="created").dispatched_at is not None
