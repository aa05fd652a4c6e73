"""Domain errors with stable codes. Services raise these; one DRF handler turns them into HTTP.

An error says *what* went wrong (its class and `code`), never how a transport answers it: the
HTTP status of each class or code is decided in one place, `bitcart.api.exception_handler`.
"""

from typing import Any


class ApplicationError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    code = "validation_error"


class NotFound(ApplicationError):
    code = "not_found"


class Conflict(ApplicationError):
    code = "conflict"


class AlreadyExists(Conflict):
    """A unique rule (a name, a key) is already taken by another object."""

    code = "already_exists"


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"


class AuthenticationFailed(ApplicationError):
    code = "authentication_failed"


class PermissionDenied(ApplicationError):
    code = "permission_denied"


class ServiceUnavailable(ApplicationError):
    """A dependency (rates, daemon) cannot serve now; retrying later may work."""

    code = "service_unavailable"
