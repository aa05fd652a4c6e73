"""DRF permission: the token must hold the view's scope (fully, or for at least one store).

Which objects a partial (`<scope>:<store_id>`) grant reaches is decided by the view's queryset
(`request_grant(...).store_ids`), so objects outside the grant are simply not found (404).
"""

from rest_framework.permissions import BasePermission

from accounts.models import Token
from accounts.scopes import Grant, grant_for


def request_grant(request, scope: str) -> Grant:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Grant(all=False)
    auth = getattr(request, "auth", None)
    if isinstance(auth, Token):
        return grant_for(auth.permissions, scope, is_superuser=user.is_superuser)
    # A staff member logged in to the admin acts with full control over their own objects.
    return Grant(all=True)


class HasScopes(BasePermission):
    """Views set `scope` (one of accounts.scopes) and optionally `public_actions`, actions
    that anonymous callers may use (the view then decides what they see)."""

    message = "Not enough permissions"

    def has_permission(self, request, view) -> bool:
        action = getattr(view, "action", None) or request.method.lower()
        if action in getattr(view, "public_actions", ()):
            return True
        if not (request.user and request.user.is_authenticated):
            return False
        scope = getattr(view, "scope", None)
        if scope is None:
            return True
        return bool(request_grant(request, scope))
