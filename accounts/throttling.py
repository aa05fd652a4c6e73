from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _IpThrottle(SimpleRateThrottle):
    """Per client IP; the rate is read at request time so settings overrides apply (DRF caches it
    on the class otherwise)."""

    scope: str

    def get_rate(self) -> str | None:
        rates: dict = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AnonymousInvoiceThrottle(_IpThrottle):
    """Anonymous invoice creation: every invoice reserves an address and a row, so it is bounded."""

    scope = "invoice_anon"

    def allow_request(self, request, view) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        return super().allow_request(request, view)


class LoginThrottle(_IpThrottle):
    scope = "login"
