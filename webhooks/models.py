"""The webhook outbox: events, endpoints, one message per (event, target), and the delivery log."""

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
    """One delivery job: an event to one endpoint, or Bitcart's `{id, status}` to an invoice's
    notification_url. Retried with backoff until a 2xx or its deadline."""

    class Kind(models.TextChoices):
        ENDPOINT = "endpoint"
        NOTIFICATION_URL = "notification_url"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERING = "delivering"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after its deadline

    id = UlidField()
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="messages")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="messages", null=True, blank=True
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = models.URLField(max_length=2000)
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

    def __str__(self) -> str:
        return f"{self.event.type} → {self.url} ({self.status})"


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
