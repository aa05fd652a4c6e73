"""The outbox: events, endpoints, one message per (event, channel, recipient), and the delivery log.

Webhooks, the buyer's e-mail and the merchant's notifications of an invoice event are all messages
here, written in the event's transaction and delivered, retried and swept the same way."""

from django.db import models

from bitcart.models import UlidField


class WebhookEndpoint(models.Model):
    """A store's subscriber: signed (Standard Webhooks) POSTs of invoice events to `url`."""

    id = UlidField()
    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event types to send (e.g. ["invoice.paid", "invoice.complete"]); empty means all.
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    # The signing secret ("whsec_" + base64) must be kept in clear: we sign with it.
    secret = models.CharField(max_length=100, editable=False)
    # After a rotation the old secret still signs (a second signature) until this time.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One invoice event as integrators see it; `sequence` orders them (GET /api/webhooks/events?since=)."""

    sequence = models.BigAutoField(primary_key=True)
    id = models.CharField(max_length=40, unique=True, editable=False)  # "evt_<ulid>", the public id
    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, related_name="webhook_events")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.CASCADE, related_name="webhook_events")
    # Recording the same invoice event twice is a no-op.
    invoice_event = models.OneToOneField(
        "invoices.InvoiceEvent", on_delete=models.CASCADE, related_name="webhook_event", null=True, blank=True
    )
    type = models.CharField(max_length=50)
    payload = models.JSONField(help_text="The full body sent to endpoints (a frozen invoice snapshot).")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [models.Index(fields=["store", "sequence"], name="webhook_event_store_seq")]

    def __str__(self) -> str:
        return f"{self.type} {self.invoice_id}"


class WebhookMessage(models.Model):
    """One delivery job of the outbox: an event to one webhook endpoint, Bitcart's `{id, status}`
    to an invoice's notification_url, the buyer's e-mail, or one merchant notification provider.
    Retried with backoff until it is delivered or its deadline passes.

    One row per (event, channel, topic, recipient): recording an event again, or a sweep after a
    crash, never makes a second message, so each is sent by one claimed attempt at a time."""

    class Kind(models.TextChoices):
        ENDPOINT = "endpoint"
        NOTIFICATION_URL = "notification_url"
        EMAIL = "email"  # the buyer's receipt
        NOTIFICATION = "notification"  # the merchant, through one NotificationProvider (Apprise)

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERING = "delivering"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after its deadline, or refused for good

    id = UlidField()
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="messages")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="messages", null=True, blank=True
    )
    provider = models.ForeignKey(
        "stores.NotificationProvider", on_delete=models.SET_NULL, related_name="messages", null=True, blank=True
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Which message of its channel (e-mails and notifications: "invoice_complete", "invoice_paid_late").
    topic = models.CharField(max_length=40, blank=True)
    # Who gets it: the endpoint's id, the notification URL, the e-mail address, the provider's id.
    recipient = models.CharField(max_length=2000)
    url = models.URLField(max_length=2000, blank=True)  # HTTP channels only
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the message until then; after it (a killed worker) the sweep may take it again.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_message_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "kind", "topic", "recipient"], name="webhook_message_unique_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.kind} {self.url or self.recipient} ({self.status})"


class WebhookAttempt(models.Model):
    """The delivery log: one row per HTTP attempt."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="delivery_attempts")
    url = models.URLField(max_length=2000)
    request_headers = models.JSONField(default=dict)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2000 characters.")
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    success = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.url}: {self.response_status or self.error}"
