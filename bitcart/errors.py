"""Domain errors with stable codes. Services raise these; one DRF handler turns them into HTTP."""

from typing import Any


class ApplicationError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    code = "validation_error"
    http_status = 422


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class Conflict(ApplicationError):
    code = "conflict"
    http_status = 409


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"


class ServiceUnavailable(ApplicationError):
    """A dependency (rates, daemon) cannot serve now; retrying later may work."""

    code = "service_unavailable"
    http_status = 503
