from bitcart.errors import ApplicationError


class RateUnavailable(ApplicationError):
    """No rate we trust for a pair right now: pricing must be refused, never guessed."""

    code = "rate_unavailable"


class ProviderError(Exception):
    """A provider's answer as a whole is unusable (HTTP error status, HTML, wrong JSON shape)."""
