"""Writes of the API auth app: tokens and idempotency keys."""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import IdempotencyKey, Token
from accounts.scopes import FULL_CONTROL, SERVER_MANAGEMENT, grant_for, scope_is_valid
from bitcart.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed

TOKEN_PREFIX = "bct_"
IDEMPOTENCY_TTL = timedelta(hours=24)
# A request holding a key this long without finishing is presumed dead (worker killed mid-request).
IDEMPOTENCY_STALE_AFTER = timedelta(minutes=5)
# Only the last-used timestamp of a token is refreshed this often, so auth stays a pure read.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _validate_permissions(permissions: Iterable[str]) -> list[str]:
    if isinstance(permissions, str) or not all(isinstance(p, str) for p in permissions):
        raise ValidationFailed("permissions must be a list of strings", code="invalid_permissions")
    result: list[str] = []
    for scope in permissions:
        if not scope_is_valid(scope):
            raise ValidationFailed(f"Unknown permission {scope!r}", code="invalid_permissions")
        if scope not in result:
            result.append(scope)
    if len(result) > 100:
        raise ValidationFailed("Too many permissions", code="invalid_permissions")
    return result


def token_create(
    *,
    user,
    permissions: Iterable[str] = (),
    app_id: str = "",
    redirect_url: str = "",
    expires_at: datetime | None = None,
    strict: bool = True,
    parent: Token | None = None,
) -> tuple[Token, str]:
    """Create a token and return it with its secret (the only time the secret exists in clear).

    A token made with another token (`parent`) can never hold more than its parent; one made with a
    password holds at most what the user may do. With `strict`, asking for more is an error; without,
    the extra scopes are dropped (Bitcart's semantics).
    """
    wanted = _validate_permissions(permissions)
    allowed = []
    for scope in wanted:
        base = scope.split(":", 1)[0]
        ok = not (base == SERVER_MANAGEMENT and not user.is_superuser)
        if ok and parent is not None:
            if base == FULL_CONTROL:
                ok = FULL_CONTROL in parent.permissions
            else:
                grant = grant_for(parent.permissions, base, is_superuser=user.is_superuser)
                ok = grant.all or (":" in scope and grant.allows_store(scope.split(":", 1)[1]))
        if ok:
            allowed.append(scope)
        elif strict:
            raise PermissionDenied(f"Not allowed to grant {scope!r}", code="permission_escalation")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future", code="invalid_expiry")
    if len(app_id) > 200 or len(redirect_url) > 1000:
        raise ValidationFailed("app_id or redirect_url is too long", code="too_long")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = Token.objects.create(
        user=user,
        key_hash=token_hash(secret),
        prefix=secret[:12],
        app_id=app_id,
        redirect_url=redirect_url,
        permissions=allowed,
        expires_at=expires_at,
    )
    return token, secret


def user_authenticate(*, email: str, password: str):
    """The active user with this e-mail and password, or AuthenticationFailed (same answer either way)."""
    users = list(get_user_model().objects.filter(email__iexact=(email or "").strip(), is_active=True).order_by("pk"))
    if not users:
        make_password(password)  # spend the same time as a real check: no user enumeration by timing
    for user in users:
        if user.check_password(password):
            return user
    raise AuthenticationFailed("Invalid e-mail or password", code="invalid_credentials")


def token_authenticate(*, secret: str) -> Token:
    try:  # get, not first(): a unique lookup needs no ORDER BY to compile (CPU on every API call)
        token: Token | None = Token.objects.select_related("user").get(key_hash=token_hash(secret))
    except Token.DoesNotExist:
        token = None
    now = timezone.now()
    if token is None or not token.user.is_active:
        raise AuthenticationFailed("Invalid token", code="invalid_token")
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthenticationFailed("Token expired", code="token_expired")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        Token.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_update(*, token: Token, redirect_url: str | None = None, app_id: str | None = None) -> Token:
    fields = []
    if redirect_url is not None:
        token.redirect_url = redirect_url[:1000]
        fields.append("redirect_url")
    if app_id is not None:
        token.app_id = app_id[:200]
        fields.append("app_id")
    if fields:
        token.save(update_fields=fields)
    return token


def token_delete(*, token: Token) -> None:
    token.delete()


# --- idempotency ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    status_code: int
    content_type: str
    body: bytes


def idempotency_begin(*, caller: str, key: str, fingerprint: str) -> Replay | None:
    """Claim a key for a new request (None: go ahead) or return the stored response to replay.

    Raises Conflict while another request with the key is still running, and ValidationFailed if
    the key was used for a different request.
    """
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    caller=caller, key=key, fingerprint=fingerprint, expires_at=now + IDEMPOTENCY_TTL
                )
            return None
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(caller=caller, key=key).first()
            if existing is None:  # finished and released between our insert and read: try again
                continue
            stale = existing.status_code is None and now - existing.created > IDEMPOTENCY_STALE_AFTER
            if existing.expires_at <= now or stale:
                IdempotencyKey.objects.filter(pk=existing.pk, created=existing.created).delete()
                continue
            if existing.fingerprint != fingerprint:
                raise ValidationFailed(
                    "This Idempotency-Key was used with a different request", code="idempotency_key_reused"
                )
            if existing.status_code is None:
                raise Conflict("A request with this Idempotency-Key is in progress", code="idempotency_in_progress")
            return Replay(existing.status_code, existing.content_type, bytes(existing.body))
    raise Conflict("A request with this Idempotency-Key is in progress", code="idempotency_in_progress")


def idempotency_finish(*, caller: str, key: str, status_code: int, content_type: str, body: bytes) -> None:
    IdempotencyKey.objects.filter(caller=caller, key=key, status_code__isnull=True).update(
        status_code=status_code, content_type=content_type[:100], body=body
    )


def idempotency_release(*, caller: str, key: str) -> None:
    """Forget a claimed key whose request did not complete, so the client's retry runs again."""
    IdempotencyKey.objects.filter(caller=caller, key=key, status_code__isnull=True).delete()


def idempotency_purge(*, now: datetime | None = None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def token_get_for_user(*, user, token_id: str) -> Token:
    token = Token.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("Token not found", code="token_not_found")
    return token
