from django.conf import settings
from django.db import models

from bitcart.models import UlidField


class Token(models.Model):
    """An API token. Only the SHA-256 of its secret is stored; the secret is shown once at creation.

    The secret has 256 bits of entropy, so a fast unsalted hash is enough: there is nothing to
    brute-force, and lookup stays one indexed equality match per request.
    """

    id = UlidField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the secret, so a merchant can tell tokens apart; not enough to use one.
    prefix = models.CharField(max_length=16, editable=False)
    app_id = models.CharField(max_length=200, blank=True)
    redirect_url = models.CharField(max_length=1000, blank=True)
    permissions = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.app_id or 'token'})"


class IdempotencyKey(models.Model):
    """The first response to a POST/PATCH carrying an `Idempotency-Key`, replayed for 24 h.

    `caller` separates key spaces (a hash of the Authorization header, or "anon"), so one
    merchant's key can never replay another's response. The unique constraint is the lock: of two
    concurrent requests with the same key, exactly one inserts the row and runs.
    """

    caller = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return self.key
