"""HTTP surface of the rate service: thin views over services and selectors."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from accounts.permissions import request_grant
from bitcart.errors import ApplicationError, NotFound, ValidationFailed
from rates import selectors, services

MAX_PAIRS = 50


class CryptoRateView(APIView):
    """GET /api/cryptos/rate?currency=ETH&fiat_currency=USD, as in Bitcart (currency defaults to BTC there too).

    Bitcart answers with a bare JSON number, and its SDK and plugins read it as one. The number is
    written from the Decimal's own digits, so it is exact (DRF's encoder would go through a float).
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("currency", str, description="Crypto currency (BTC, ETH, USDT, USDC)", default="BTC"),
            OpenApiParameter(
                "fiat_currency", str, description="Fiat currency code, or another crypto (BTC, SATS)", default="USD"
            ),
        ],
        responses={200: OpenApiTypes.NUMBER, 422: OpenApiTypes.OBJECT},
        description="The exchange rate: `fiat_currency` units per 1 unit of `currency` under the server's "
        "default rules, as a bare JSON number (as in Bitcart). Anyone may call this. 422 `rate_unavailable` "
        "when no trustworthy rate is known now, `unsupported_currency` for an unknown currency or a coin "
        "this server does not price.",
    )
    def get(self, request: Request) -> HttpResponse:
        quote = services.rate_get(
            store=None,
            crypto=request.query_params.get("currency", "BTC"),
            fiat=request.query_params.get("fiat_currency", "USD"),
        )
        return HttpResponse(f"{quote.rate:f}", content_type="application/json")


class StoreRatesView(APIView):
    """GET /api/stores/{store_id}/rates?currencies=BTC_USD,ETH_EUR: the store's rates under its rules.

    Like Bitcart, one entry per requested pair, and a failing pair does not fail the others. Rates
    are decimal strings. Only the owner, with store_management for that store, sees them.
    """

    scope = scopes.STORE_MANAGEMENT

    @extend_schema(
        parameters=[OpenApiParameter("currencies", str, required=True, description="e.g. BTC_USD,ETH_EUR,ETH_BTC")],
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 422: OpenApiTypes.OBJECT},
        description="Your store's exchange rates under its own rate rules, one entry per requested pair "
        "(`currencies=BTC_USD,ETH_EUR`, at most 50; `ETH_BTC` is BTC per 1 ETH): a decimal string `rate` "
        "with its `source`, or a "
        "`code` and `message` for a pair that failed (the others still answer). Needs a token with "
        "`store_management` for that store.",
    )
    def get(self, request: Request, store_id: str) -> Response:
        store = selectors.store_get_owned(store_id=store_id, user=request.user)
        if store is None or not request_grant(request, self.scope).allows_store(store.pk):
            raise NotFound("Store not found", code="store_not_found")
        requested = [c.strip().upper() for c in request.query_params.get("currencies", "").split(",") if c.strip()]
        if not requested:
            raise ValidationFailed("currencies is required, e.g. currencies=BTC_USD,BTC_EUR", code="missing_currencies")
        if len(requested) > MAX_PAIRS:
            raise ValidationFailed(f"At most {MAX_PAIRS} currency pairs at once", code="too_many_currencies")
        results = []
        for pair in requested:
            parts = pair.split("_")
            if len(parts) != 2:
                message = f"{pair}: invalid currency pair"
                results.append({"currency": pair, "rate": None, "code": "invalid_pair", "message": message})
                continue
            try:
                quote = services.rate_get(store=store, crypto=parts[0], fiat=parts[1])
            except ApplicationError as exc:
                results.append({"currency": pair, "rate": None, "code": exc.code, "message": f"{pair}: {exc.message}"})
                continue
            results.append(
                {
                    "currency": pair,
                    "rate": f"{quote.rate:f}",
                    "source": quote.source,
                    "fetched_at": quote.fetched_at.isoformat(),
                    "message": f"{pair}: {quote.rate:f} (resolved by {quote.source})",
                }
            )
        return Response({"rates": results})
