"""The outbox of invoice events: webhooks, the buyer's e-mail and merchant notifications.

Recording (inside the caller's transaction) writes one WebhookEvent and one WebhookMessage per
(channel, topic, recipient), so an event's messages are committed with its status change or not at
all, and recording it again writes nothing. After commit the invoice's one fan-out
(invoices.effects) queues invoice_event_task, which queues one delivery task per message (a slow or
dead target never holds up another). A delivery is claimed with a conditional UPDATE (two workers
never send the same attempt), retried with exponential backoff for more than 72 hours, and swept by
one beat task, so a lost task only delays a message. Webhook bodies are signed per the Standard
Webhooks spec (webhook-id / webhook-timestamp / webhook-signature).
"""

import base64
import ipaddress
import json
import logging
import random
import secrets
import smtplib
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from standardwebhooks import Webhook

from bitcart.celery import task_enqueue
from bitcart.errors import ValidationFailed
from bitcart.ids import new_ulid
from invoices.models import ExceptionStatus, Invoice, InvoiceEvent, InvoiceStatus
from invoices.payloads import invoice_snapshot
from stores.emails import TERMINAL_SMTP_ERRORS, invoice_complete_email_send
from stores.models import NotificationProvider
from stores.notifications import NotificationFailed, NotificationRefused, invoice_notification_send
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookEvent, WebhookMessage

logger = logging.getLogger(__name__)

# Delay before attempt n+1 after n failures. Sums to ~76 h: an endpoint down for a long weekend
# still gets everything. A ±10% jitter keeps many retries from landing at the same second.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=12),
    timedelta(hours=12),
    timedelta(hours=12),
    timedelta(hours=12),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
SECRET_PREFIX = "whsec_"
ROTATION_GRACE = timedelta(hours=24)
LOCK_FOR = timedelta(minutes=2)
RESPONSE_EXCERPT = 2000
USER_AGENT = "Bitcart-Webhooks/1.0"

EVENT_CREATED = "invoice.created"
# Topics of e-mails and merchant notifications (also the names of their Template overrides).
TOPIC_COMPLETE = "invoice_complete"
TOPIC_PAID_LATE = "invoice_paid_late"
# Set in an event's data by invoices.services: money received after completion, and a paid order
# whose stock was sold meanwhile.
TOPIC_PAID_AFTER_COMPLETE = "invoice_paid_after_complete"
TOPIC_STOCK_SHORT = "invoice_stock_short"
STATUS_EVENT_TYPES: dict[str, str] = {
    InvoiceStatus.PENDING: "invoice.pending",
    InvoiceStatus.PAID: "invoice.paid",
    InvoiceStatus.CONFIRMED: "invoice.confirmed",
    InvoiceStatus.COMPLETE: "invoice.complete",
    InvoiceStatus.EXPIRED: "invoice.expired",
    InvoiceStatus.INVALID: "invoice.invalid",
    InvoiceStatus.REFUNDED: "invoice.refunded",
}
EXCEPTION_EVENT_TYPES: dict[str, str] = {
    ExceptionStatus.PAID_PARTIAL: "invoice.paid_partial",
    ExceptionStatus.PAID_OVER: "invoice.paid_over",
    ExceptionStatus.PAID_LATE: "invoice.paid_late",
    ExceptionStatus.FAILED_CONFIRM: "invoice.failed_confirm",
    ExceptionStatus.NONE: "invoice.updated",
}
EVENT_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys([EVENT_CREATED, *STATUS_EVENT_TYPES.values(), *EXCEPTION_EVENT_TYPES.values()])
)


def _setting(name: str, default):
    return getattr(settings, name, default)


def allow_private_targets() -> bool:
    """Loopback/private targets are refused in production; the sandbox (regtest) and tests allow them."""
    return bool(_setting("WEBHOOKS_ALLOW_PRIVATE", settings.SANDBOX))


# --- events and the outbox ------------------------------------------------------------------


def webhook_event_type(event: InvoiceEvent) -> str:
    if event.kind == InvoiceEvent.Kind.CREATED:
        return EVENT_CREATED
    became_late = (
        event.new_exception_status == ExceptionStatus.PAID_LATE
        and event.old_exception_status != ExceptionStatus.PAID_LATE
    )
    if became_late:
        return EXCEPTION_EVENT_TYPES[ExceptionStatus.PAID_LATE]
    if event.new_status != event.old_status:
        return STATUS_EVENT_TYPES.get(event.new_status, "invoice.updated")
    return EXCEPTION_EVENT_TYPES.get(event.new_exception_status, "invoice.updated")


def _subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.events or event_type in endpoint.events


def webhook_event_record(
    *, invoice: Invoice, event: InvoiceEvent, snapshot: dict | None = None, event_is_new: bool = False
) -> WebhookEvent | None:
    """Write the event and its delivery messages in the caller's transaction; deliver after commit.

    Idempotent per InvoiceEvent (recording it twice writes nothing the second time). `snapshot` is
    the invoice's owner view if the caller already has it (the API serialized it for its response);
    otherwise it is built from what is prefetched on `invoice`, loading only what is missing.
    `event_is_new`: the caller created `event` in this transaction, so nothing can have recorded
    it yet and the insert needs no savepoint.
    """
    if snapshot is None:
        snapshot = invoice_snapshot(invoice)
    event_type = webhook_event_type(event)
    payload = {
        "type": event_type,
        "timestamp": event.created.isoformat().replace("+00:00", "Z"),
        "store_id": invoice.store_id,
        "previous_status": event.old_status or None,
        "previous_exception_status": event.old_exception_status or None,
        "data": snapshot,
    }
    webhook_event = WebhookEvent(
        id=f"evt_{new_ulid()}",
        store_id=invoice.store_id,
        invoice=invoice,
        invoice_event=event,
        type=event_type,
        payload=payload,
    )
    if event_is_new:
        webhook_event.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                webhook_event.save(force_insert=True)
        except IntegrityError:
            return None  # already recorded
    now = timezone.now()
    messages = [
        WebhookMessage(
            event=webhook_event,
            endpoint=endpoint,
            kind=WebhookMessage.Kind.ENDPOINT,
            recipient=endpoint.pk,
            url=endpoint.url,
            next_attempt_at=now,
        )
        for endpoint in WebhookEndpoint.objects.filter(store_id=invoice.store_id, enabled=True)
        if _subscribed(endpoint, event_type)
    ]
    if invoice.notification_url and event.kind == InvoiceEvent.Kind.STATUS:
        # Bitcart's per-invoice IPN, unchanged for existing plugins: {"id", "status"} on every change.
        messages.append(
            WebhookMessage(
                event=webhook_event,
                kind=WebhookMessage.Kind.NOTIFICATION_URL,
                recipient=invoice.notification_url,
                url=invoice.notification_url,
                next_attempt_at=now,
            )
        )
    messages += _merchant_and_buyer_messages(invoice=invoice, event=event, webhook_event=webhook_event, now=now)
    if messages:
        WebhookMessage.objects.bulk_create(messages)
    return webhook_event


def _merchant_and_buyer_messages(
    *, invoice: Invoice, event: InvoiceEvent, webhook_event: WebhookEvent, now: datetime
) -> list[WebhookMessage]:
    """The buyer's receipt when the invoice becomes complete; the merchant's notifications (every
    enabled provider) when it becomes complete, is paid late or after completion, or a paid order
    exceeds the stock."""
    if event.kind != InvoiceEvent.Kind.STATUS:
        return []
    topics = []
    messages = []
    if event.new_status == InvoiceStatus.COMPLETE and event.old_status != InvoiceStatus.COMPLETE:
        topics.append(TOPIC_COMPLETE)
        if invoice.buyer_email:
            messages.append(
                WebhookMessage(
                    event=webhook_event,
                    kind=WebhookMessage.Kind.EMAIL,
                    topic=TOPIC_COMPLETE,
                    recipient=invoice.buyer_email,
                    next_attempt_at=now,
                )
            )
    if (
        event.new_exception_status == ExceptionStatus.PAID_LATE
        and event.old_exception_status != ExceptionStatus.PAID_LATE
    ):
        topics.append(TOPIC_PAID_LATE)
    if "paid_after_complete" in event.data:
        topics.append(TOPIC_PAID_AFTER_COMPLETE)
    if "stock_short" in event.data:
        topics.append(TOPIC_STOCK_SHORT)
    if topics:
        providers = NotificationProvider.objects.filter(store_id=invoice.store_id, enabled=True).order_by("created")
        messages += [
            WebhookMessage(
                event=webhook_event,
                kind=WebhookMessage.Kind.NOTIFICATION,
                provider=provider,
                topic=topic,
                recipient=provider.pk,
                next_attempt_at=now,
            )
            for topic in topics
            for provider in providers
        ]
    return messages


def webhook_messages_enqueue(message_ids: Iterable[str]) -> None:
    """Queue a delivery task per message (by task name: webhooks.tasks imports this module)."""
    for message_id in message_ids:
        try:
            task_enqueue("webhooks.tasks.webhook_message_deliver_task", message_id)
        except BrokerError as exc:  # the row is due; the beat sweep sends it
            logger.warning("could not queue webhook message %s: %s", message_id, exc)


def invoice_event_messages_enqueue(*, invoice_event_id: int) -> int:
    """Queue the pending messages an invoice event recorded (its fan-out after commit)."""
    ids = list(
        WebhookMessage.objects.filter(
            event__invoice_event_id=invoice_event_id, status=WebhookMessage.Status.PENDING
        ).values_list("pk", flat=True)
    )
    webhook_messages_enqueue(ids)
    return len(ids)


def webhooks_dispatch_due(*, now: datetime | None = None, batch: int = 1000) -> int:
    """The sweep: queue every due message (retries, and first attempts whose task was lost)."""
    now = now or timezone.now()
    due = list(
        WebhookMessage.objects.filter(
            Q(status=WebhookMessage.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=WebhookMessage.Status.DELIVERING, locked_until__lt=now)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )
    webhook_messages_enqueue(due)
    return len(due)


def webhook_messages_redeliver(*, message_ids: Iterable[str]) -> int:
    """Manual redelivery (admin): send these messages again now, whatever their state."""
    ids = list(message_ids)
    count = WebhookMessage.objects.filter(pk__in=ids).update(
        status=WebhookMessage.Status.PENDING, next_attempt_at=timezone.now(), locked_until=None
    )
    transaction.on_commit(lambda: webhook_messages_enqueue(ids), robust=True)
    return count


# --- signing --------------------------------------------------------------------------------


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(*, endpoint: WebhookEndpoint, msg_id: str, timestamp: datetime, body: str) -> str:
    """The webhook-signature header: the current secret's signature, plus the previous secret's
    during a rotation's grace period (receivers accept any listed signature)."""
    signatures = [Webhook(endpoint.secret).sign(msg_id, timestamp, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > timezone.now():
        signatures.append(Webhook(endpoint.previous_secret).sign(msg_id, timestamp, body))
    return " ".join(signatures)


def message_body(message: WebhookMessage) -> str:
    event = message.event
    if message.kind == WebhookMessage.Kind.NOTIFICATION_URL:
        data = {"id": event.invoice_id, "status": event.payload["data"]["status"]}
    else:
        data = {"id": event.id, "sequence": event.sequence, **event.payload}
    return json.dumps(data, separators=(",", ":"), sort_keys=False)


# --- SSRF guard -----------------------------------------------------------------------------


class UnsafeTarget(Exception):
    pass


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str, *, resolve: bool = True) -> None:
    """Refuse non-HTTP(S) URLs, and (unless allowed) hosts resolving to loopback/private/link-local."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("Only http(s) URLs with a host are allowed")
    if allow_private_targets() or not resolve:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"Cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        if not _address_is_public(str(info[4][0])):
            raise UnsafeTarget(f"{parts.hostname} resolves to a non-public address")


# --- delivery -------------------------------------------------------------------------------


def _claim(message_id: str, now: datetime) -> bool:
    due = Q(status=WebhookMessage.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookMessage.Status.DELIVERING, locked_until__lt=now
    )
    return bool(
        WebhookMessage.objects.filter(due, pk=message_id).update(
            status=WebhookMessage.Status.DELIVERING, locked_until=now + LOCK_FOR
        )
    )


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    """One client per worker process (building one costs ~0.1 s of TLS setup); httpx.Client is thread-safe."""
    global _client
    if _client is None:
        _client = httpx.Client(
            timeout=httpx.Timeout(float(_setting("WEBHOOKS_TIMEOUT", 10.0)), connect=5.0),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the SSRF check must see the real target
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )
    return _client


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """(status, body excerpt, error). Redirects are not followed: a 3xx is a failed delivery."""
    try:
        response = _http().post(url, content=body.encode(), headers=headers)
        return response.status_code, response.text[:RESPONSE_EXCERPT], ""
    except httpx.HTTPError as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:500]


@dataclass(frozen=True)
class _Outcome:
    success: bool
    terminal: bool = False  # no retry can help (refused target, rejected recipient)
    error: str = ""
    status_code: int | None = None
    excerpt: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def _send_http(message: WebhookMessage) -> _Outcome:
    endpoint = message.endpoint
    body = message_body(message)
    msg_id = f"msg_{message.pk}"
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    if endpoint is not None:
        timestamp = timezone.now()
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(int(timestamp.timestamp()))
        headers["webhook-signature"] = sign(endpoint=endpoint, msg_id=msg_id, timestamp=timestamp, body=body)
    logged = {k: v for k, v in headers.items() if k != "webhook-signature"}
    try:
        url_check(message.url)
    except UnsafeTarget as exc:
        return _Outcome(success=False, terminal=True, error=f"refused: {exc}", headers=logged)
    status_code, excerpt, error = _post(message.url, body, headers)
    success = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not success:
        error = f"HTTP {status_code}"
    return _Outcome(success=success, error=error, status_code=status_code, excerpt=excerpt, headers=logged)


def _send_email(message: WebhookMessage) -> _Outcome:
    try:
        sent = invoice_complete_email_send(invoice_id=message.event.invoice_id, to=message.recipient)
    except TERMINAL_SMTP_ERRORS as exc:  # refused once, refused again: retrying only delays the error
        return _Outcome(success=False, terminal=True, error=f"{type(exc).__name__}: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        return _Outcome(success=False, error=f"{type(exc).__name__}: {exc}")
    return _Outcome(success=True) if sent else _Outcome(success=False, terminal=True, error="invoice gone")


def _send_notification(message: WebhookMessage) -> _Outcome:
    if message.provider_id is None:
        return _Outcome(success=False, terminal=True, error="provider deleted")
    try:
        invoice_notification_send(
            provider_id=message.provider_id, invoice_id=message.event.invoice_id, topic=message.topic
        )
    except NotificationRefused as exc:
        return _Outcome(success=False, terminal=True, error=str(exc))
    except NotificationFailed as exc:
        return _Outcome(success=False, error=str(exc))
    return _Outcome(success=True)


def webhook_message_deliver(*, message_id: str) -> WebhookMessage | None:
    """Make one attempt for a due message (None if it is not due or another worker holds it)."""
    now = timezone.now()
    if not _claim(message_id, now):
        return None
    message = WebhookMessage.objects.select_related("event", "endpoint").get(pk=message_id)
    endpoint = message.endpoint
    if endpoint is not None and not endpoint.enabled:
        _finish(message, status=WebhookMessage.Status.FAILED, error="endpoint disabled")
        return message
    started = time.monotonic()
    if message.kind == WebhookMessage.Kind.EMAIL:
        outcome = _send_email(message)
    elif message.kind == WebhookMessage.Kind.NOTIFICATION:
        outcome = _send_notification(message)
    else:
        outcome = _send_http(message)
    latency = int((time.monotonic() - started) * 1000)
    error = outcome.error[:500]
    WebhookAttempt.objects.create(
        message=message,
        url=message.url,
        request_headers=outcome.headers,
        response_status=outcome.status_code,
        response_body=outcome.excerpt,
        error=error,
        latency_ms=latency,
        success=outcome.success,
    )
    if outcome.success:
        _finish(message, status=WebhookMessage.Status.DELIVERED, error="")
        if endpoint is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0, failing_since=None)
        return message
    attempts = message.attempts + 1
    if outcome.terminal or attempts >= MAX_ATTEMPTS:
        _finish(message, status=WebhookMessage.Status.FAILED, error=error, attempts=attempts)
    else:
        delay = BACKOFF[attempts - 1].total_seconds() * random.uniform(0.9, 1.1)
        WebhookMessage.objects.filter(pk=message.pk).update(
            status=WebhookMessage.Status.PENDING,
            attempts=attempts,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            locked_until=None,
            last_attempt_at=now,
            last_error=error,
        )
    if endpoint is not None:
        _endpoint_failed(endpoint, now)
    message.refresh_from_db()
    return message


def _finish(message: WebhookMessage, *, status: str, error: str, attempts: int | None = None) -> None:
    now = timezone.now()
    WebhookMessage.objects.filter(pk=message.pk).update(
        status=status,
        attempts=message.attempts + 1 if attempts is None else attempts,
        locked_until=None,
        last_attempt_at=now,
        delivered_at=now if status == WebhookMessage.Status.DELIVERED else None,
        last_error=error[:500],
    )


def _endpoint_failed(endpoint: WebhookEndpoint, now: datetime) -> None:
    """Count a failure; disable the endpoint once it has failed everything for the disable window."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    window = timedelta(hours=float(_setting("WEBHOOKS_DISABLE_AFTER_HOURS", 72)))
    min_failures = int(_setting("WEBHOOKS_DISABLE_MIN_FAILURES", 20))
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, enabled=True, failing_since__lte=now - window, consecutive_failures__gte=min_failures
    ).update(enabled=False, disabled_reason=f"Every delivery failed for {window} (automatically disabled)")
    if disabled:
        logger.warning("webhook endpoint %s disabled after persistent failure", endpoint.pk)
        webhook_endpoint_disabled_notify(endpoint_id=endpoint.pk)


def webhook_endpoint_disabled_notify(*, endpoint_id: str) -> None:
    """Tell the merchant (e-mail to the store owner) that an endpoint was switched off."""
    endpoint = WebhookEndpoint.objects.select_related("store__owner").get(pk=endpoint_id)
    recipient = endpoint.store.owner.email or endpoint.store.email
    if not recipient:
        return
    try:
        send_mail(
            subject=f"Webhook endpoint disabled: {endpoint.url}",
            message=(
                f"Deliveries to {endpoint.url} for store {endpoint.store.name} failed persistently, so the endpoint "
                "was disabled. Fix it, re-enable it in the admin and redeliver the failed messages; missed events "
                "are also listed at /api/webhooks/events."
            ),
            from_email=None,
            recipient_list=[recipient],
        )
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("could not e-mail about disabled endpoint %s: %s", endpoint_id, exc)


# --- endpoints ------------------------------------------------------------------------------


def _validate_endpoint(*, url: str, events: list[str]) -> None:
    try:
        url_check(url, resolve=False)
    except UnsafeTarget as exc:
        raise ValidationFailed(str(exc), code="invalid_url") from None
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown event types: {', '.join(unknown)}", code="invalid_events", extra={"event_types": EVENT_TYPES}
        )


def webhook_endpoint_create(
    *, store, url: str, events: list[str] | None = None, description: str = "", enabled: bool = True
) -> WebhookEndpoint:
    events = list(dict.fromkeys(events or []))
    _validate_endpoint(url=url, events=events)
    return WebhookEndpoint.objects.create(
        store=store, url=url, events=events, description=description, enabled=enabled, secret=secret_generate()
    )


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    _validate_endpoint(url=url or endpoint.url, events=events if events is not None else endpoint.events)
    fields = ["updated"]
    if url is not None:
        endpoint.url = url
        fields.append("url")
    if events is not None:
        endpoint.events = list(dict.fromkeys(events))
        fields.append("events")
    if description is not None:
        endpoint.description = description
        fields.append("description")
    if enabled is not None:
        endpoint.enabled = enabled
        fields.append("enabled")
        if enabled:  # a merchant re-enabling it starts a fresh failure count
            endpoint.consecutive_failures, endpoint.failing_since, endpoint.disabled_reason = 0, None, ""
            fields += ["consecutive_failures", "failing_since", "disabled_reason"]
    endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, grace: timedelta = ROTATION_GRACE) -> WebhookEndpoint:
    """New secret now; the old one keeps signing too until `grace` has passed."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = timezone.now() + grace
        locked.secret = secret_generate()
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated"])
    return locked


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def webhooks_purge(*, now: datetime | None = None, keep_days: int = 30) -> int:
    """Forget finished messages and events older than the retention (the log is not an archive)."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    deleted, _ = (
        WebhookEvent.objects.filter(created__lt=cutoff)
        .exclude(messages__status__in=[WebhookMessage.Status.PENDING, WebhookMessage.Status.DELIVERING])
        .delete()
    )
    return deleted
