"""`Idempotency-Key` on every POST/PATCH of the API (a mixin every API view inherits).

It runs after authentication, so keys are scoped to the caller (one merchant cannot replay
another's response), and before the handler, so a replay never reaches the services. The first
response below 500 is stored and replayed for 24 h; a 5xx or a crash releases the key so the
client's retry runs again.
"""

import hashlib

from django.http import HttpResponse
from rest_framework.exceptions import ValidationError

from accounts import services

HEADER = "HTTP_IDEMPOTENCY_KEY"
METHODS = ("POST", "PATCH")
MAX_STORED_BODY = 1024 * 1024


class _Replayed(Exception):
    def __init__(self, replay: services.Replay):
        self.replay = replay


def _caller(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anon"


class IdempotencyMixin:
    _idempotency: tuple[str, str] | None = None

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency = None
        key = request.META.get(HEADER)
        if request.method not in METHODS or key is None:
            return
        key = key.strip()
        if not key or len(key) > 255:
            raise ValidationError({"Idempotency-Key": ["Must be 1 to 255 characters."]})
        body = request._request.body  # read once; Django keeps it for the parsers
        digest = hashlib.sha256()
        for part in (request.method.encode(), request.get_full_path().encode(), body):
            digest.update(part)
            digest.update(b"\x00")
        caller = _caller(request)
        replay = services.idempotency_begin(caller=caller, key=key, fingerprint=digest.hexdigest())
        if replay is not None:
            raise _Replayed(replay)
        self._idempotency = (caller, key)

    def handle_exception(self, exc):
        if isinstance(exc, _Replayed):
            response = HttpResponse(
                exc.replay.body, status=exc.replay.status_code, content_type=exc.replay.content_type or None
            )
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claim, self._idempotency = self._idempotency, None
        if claim is None:
            return response
        caller, key = claim
        if response.status_code >= 500 or response.streaming:
            services.idempotency_release(caller=caller, key=key)
            return response
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
        if len(response.content) > MAX_STORED_BODY:
            services.idempotency_release(caller=caller, key=key)
            return response
        services.idempotency_finish(
            caller=caller,
            key=key,
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=response.content,
        )
        return response

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # An exception that escaped DRF (a crash): let the retry run instead of waiting 5 minutes.
            if self._idempotency is not None:
                caller, key = self._idempotency
                self._idempotency = None
                services.idempotency_release(caller=caller, key=key)
