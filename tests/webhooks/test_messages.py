"""Buyer e-mails and merchant notifications, delivered to a real local SMTP server and a real
local HTTP endpoint (an Apprise json:// URL)."""

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from invoices.models import InvoiceEvent
from invoices.services import invoice_create, invoice_expire, payment_apply
from invoices.tasks import invoice_event_task
from stores.models import NotificationProvider, Template
from stores.notifications import notify_merchant
from stores.services import product_create
from webhooks.models import WebhookMessage

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.refuse = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "shop@example.com"
    yield inbox
    controller.stop()


@pytest.fixture
def hook():
    """An HTTP endpoint that records what Apprise's json:// posts to it."""
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"json://127.0.0.1:{server.server_address[1]}/hooks/bitcart", "received": received}
    server.shutdown()
    server.server_close()


@pytest.fixture
def order(store):
    store.email = "owner@shop.example"
    store.save()
    ebook = product_create(store=store, name="E-book", price="0.0002", download_url="https://files.example/book.pdf")
    mug = product_create(store=store, name="Mug & Cup", price="0.0003")
    return invoice_create(store=store, products={ebook.pk: 2, mug.pk: 1}, buyer_email="buyer@example.com")


def complete(invoice, capture):
    method = invoice.payment_methods.get()
    with capture(execute=True):
        payment_apply(payment_method_id=method.pk, txid="d" * 64, vout=0, amount=method.amount, confirmations=1)


def parse(envelope):
    return email.message_from_bytes(envelope.content, policy=policy.default)


def test_completion_emails_the_buyer_and_notifies_the_merchant(
    store, order, smtp, hook, django_capture_on_commit_callbacks
):
    NotificationProvider.objects.create(store=store, name="hook", url=hook["url"])

    complete(order, django_capture_on_commit_callbacks)

    assert len(smtp.messages) == 1
    envelope = smtp.messages[0]
    assert envelope.rcpt_tos == ["buyer@example.com"]
    message = parse(envelope)
    assert message["Subject"] == "Your order at Shop is paid"
    assert message["Reply-To"] == "owner@shop.example"
    text = message.get_body(("plain",)).get_content()
    assert "2 x E-book: 0.00020000 BTC" in text
    assert "1 x Mug & Cup: 0.00030000 BTC" in text  # plain text: not HTML-escaped
    assert "E-book: https://files.example/book.pdf" in text
    assert f"/i/{order.pk}" in text
    html = message.get_body(("html",)).get_content()
    assert "Mug &amp; Cup" in html
    assert 'href="https://files.example/book.pdf"' in html

    assert len(hook["received"]) == 1
    posted = hook["received"][0]
    assert posted["path"] == "/hooks/bitcart"
    assert posted["json"]["title"] == f"Invoice {order.pk} is complete"
    assert "0.00070000 BTC received." in posted["json"]["message"]
    assert "- 2 x E-book" in posted["json"]["message"]


def test_event_fan_out_is_idempotent(store, order, smtp, hook, django_capture_on_commit_callbacks):
    NotificationProvider.objects.create(store=store, name="hook", url=hook["url"])
    complete(order, django_capture_on_commit_callbacks)
    event = InvoiceEvent.objects.get(invoice=order, kind=InvoiceEvent.Kind.STATUS, new_status="complete")

    invoice_event_task(event.pk)
    invoice_event_task(event.pk)

    assert len(smtp.messages) == 1
    assert len(hook["received"]) == 1


def test_store_template_overrides_the_default_and_is_autoescaped(
    merchant, store, order, smtp, hook, django_capture_on_commit_callbacks
):
    NotificationProvider.objects.create(store=store, name="hook", url=hook["url"])
    Template.objects.create(owner=merchant, store=None, name="email_invoice_complete", text="Owner-wide text")
    Template.objects.create(
        owner=merchant,
        store=store,
        name="email_invoice_complete",
        text="<p>Thanks from {{ store.name }}! Notes: {{ invoice.notes }}</p>",
    )
    Template.objects.create(
        owner=merchant, store=None, name="notification_invoice_complete", text="Paid: {{ invoice.id }}"
    )
    order.notes = "<script>alert(1)</script>"
    order.save(update_fields=["notes"])

    complete(order, django_capture_on_commit_callbacks)

    message = parse(smtp.messages[0])
    html = message.get_body(("html",)).get_content()
    assert "<p>Thanks from Shop! Notes: &lt;script&gt;alert(1)&lt;/script&gt;</p>" in html
    assert "Owner-wide text" not in html
    assert message.get_body(("plain",)).get_content().strip() == "Thanks from Shop! Notes: <script>alert(1)</script>"
    assert hook["received"][0]["json"]["message"] == f"Paid: {order.pk}"


def test_no_email_without_buyer_address_and_no_notification_without_provider(
    store, smtp, hook, django_capture_on_commit_callbacks
):
    invoice = invoice_create(store=store, price="0.001", currency="BTC")

    complete(invoice, django_capture_on_commit_callbacks)

    assert smtp.messages == []
    assert hook["received"] == []


def test_late_payment_notifies_the_merchant(store, hook, django_capture_on_commit_callbacks):
    NotificationProvider.objects.create(store=store, name="hook", url=hook["url"])
    NotificationProvider.objects.create(store=store, name="off", url=hook["url"] + "/disabled", enabled=False)
    invoice = invoice_create(store=store, price="0.001", currency="BTC")
    invoice.expires_at = invoice.created
    invoice.save(update_fields=["expires_at"])
    with django_capture_on_commit_callbacks(execute=True):
        invoice_expire(invoice_id=invoice.pk)
    method = invoice.payment_methods.get()

    with django_capture_on_commit_callbacks(execute=True):
        payment_apply(payment_method_id=method.pk, txid="e" * 64, vout=0, amount=method.amount)

    assert [r["json"]["title"] for r in hook["received"]] == [f"Late payment on expired invoice {invoice.pk}"]
    assert hook["received"][0]["path"] == "/hooks/bitcart"


def test_notify_merchant_for_other_code(store, hook, django_capture_on_commit_callbacks):
    NotificationProvider.objects.create(store=store, name="hook", url=hook["url"])

    with django_capture_on_commit_callbacks(execute=True):
        assert notify_merchant(store_id=store.pk, title="Webhook disabled", body="It failed 10 times") == 1

    assert hook["received"][0]["json"]["title"] == "Webhook disabled"
    assert hook["received"][0]["json"]["message"] == "It failed 10 times"


def test_unreachable_provider_is_retried_with_backoff_and_not_marked_sent(store, django_capture_on_commit_callbacks):
    provider = NotificationProvider.objects.create(
        store=store, name="down", url=f"json://127.0.0.1:{free_port()}/nothing-listens"
    )
    invoice = invoice_create(store=store, price="0.001", currency="BTC")

    complete(invoice, django_capture_on_commit_callbacks)

    message = WebhookMessage.objects.get(kind=WebhookMessage.Kind.NOTIFICATION)
    assert (message.provider_id, message.recipient, message.topic) == (provider.pk, provider.pk, "invoice_complete")
    assert message.status == WebhookMessage.Status.PENDING
    assert message.attempts == 1
    assert "did not accept the notification" in message.last_error
    assert message.next_attempt_at > timezone.now()
    assert message.delivered_at is None


def test_smtp_server_down_is_retried_with_backoff_and_not_marked_sent(
    settings, order, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    complete(order, django_capture_on_commit_callbacks)

    message = WebhookMessage.objects.get(kind=WebhookMessage.Kind.EMAIL)
    assert (message.recipient, message.topic) == ("buyer@example.com", "invoice_complete")
    assert message.status == WebhookMessage.Status.PENDING
    assert message.attempts == 1
    assert message.last_error.startswith("ConnectionRefusedError")
    assert message.next_attempt_at > timezone.now()


def test_refused_recipient_is_not_retried(order, smtp, django_capture_on_commit_callbacks):
    smtp.refuse = True

    complete(order, django_capture_on_commit_callbacks)

    message = WebhookMessage.objects.get(kind=WebhookMessage.Kind.EMAIL)
    assert message.status == WebhookMessage.Status.FAILED
    assert message.attempts == 1
    assert message.last_error.startswith("SMTPRecipientsRefused")
    assert smtp.messages == []
