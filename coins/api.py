"""GET /api/cryptos and its sub-resources, as in Bitcart (public, like Bitcart's): which coins this server
takes, their tokens and explorers; plus /api/cryptos/info, everything the registry knows per coin."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bitcart.errors import NotFound
from coins import registry

SUPPORTED = {"btc": "Bitcoin", "eth": "Ethereum"}  # what BITCART_CRYPTOS may enable (coins.registry.FAMILIES)


def compliant(items: list) -> dict:
    """Bitcart's list envelope for these endpoints."""
    return {"count": len(items), "next": None, "previous": None, "result": items}


def _list_of(name: str, child: serializers.Field) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.CharField(allow_null=True),
            "previous": serializers.CharField(allow_null=True),
            "result": serializers.ListField(child=child),
        },
    )


def _chain(currency: str) -> registry.Chain:
    try:
        return registry.chain(currency)
    except KeyError:
        raise NotFound(f"{currency!r} is not a coin this server takes", code="unknown_crypto") from None


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class CryptosView(PublicView):
    @extend_schema(
        responses=_list_of("CryptoList", serializers.CharField()),
        description='The enabled chains, lower case (`BITCART_CRYPTOS`: "btc", "eth"), in Bitcart\'s list '
        "envelope. Anyone may call this.",
    )
    def get(self, request: Request) -> Response:
        return Response(compliant([chain.key for chain in registry.chains()]))


class SupportedCryptosView(PublicView):
    @extend_schema(
        responses={200: {"type": "object", "additionalProperties": {"type": "string"}}},
        description="Every chain this server can be configured to take, by key, with its name.",
    )
    def get(self, request: Request) -> Response:
        return Response(SUPPORTED)


CoinInfo = inline_serializer(
    "CoinInfo",
    {
        "symbol": serializers.CharField(help_text="Also the payment method's `currency`."),
        "name": serializers.CharField(),
        "chain": serializers.CharField(help_text="The chain key (GET /api/cryptos)."),
        "family": serializers.ChoiceField(choices=[f.value for f in registry.Family]),
        "network": serializers.CharField(),
        "chain_id": serializers.IntegerField(help_text="EIP-155 chain id; 0 for bitcoin-family chains."),
        "decimals": serializers.IntegerField(help_text="Amounts are in 10^-decimals units on chain."),
        "contract": serializers.CharField(help_text='The ERC-20 contract; "" for a native coin.'),
        "uri_scheme": serializers.CharField(),
        "confirmations": serializers.IntegerField(help_text="Default confirmations for invoices on this chain."),
        "explorer": serializers.CharField(help_text='A transaction page, "{txid}" to replace; "" if none.'),
    },
)


class CryptoInfoView(PublicView):
    @extend_schema(
        responses=_list_of("CoinInfoList", CoinInfo),
        description="Every coin and token a buyer can pay with here, with what a client needs to show and "
        "check amounts (decimals), build payment URIs and link transactions. Beyond Bitcart.",
    )
    def get(self, request: Request) -> Response:
        result = []
        for chain in registry.chains():
            for coin in chain.coins:
                result.append(
                    {
                        "symbol": coin.symbol,
                        "name": coin.name,
                        "chain": chain.key,
                        "family": chain.family.value,
                        "network": chain.network,
                        "chain_id": chain.chain_id,
                        "decimals": coin.decimals,
                        "contract": coin.contract,
                        "uri_scheme": chain.family.value,
                        "confirmations": chain.confirmations,
                        "explorer": chain.explorer_tx,
                    }
                )
        return Response(compliant(result))


class TokensView(PublicView):
    @extend_schema(
        responses={200: _list_of("TokenList", serializers.CharField()), 404: {"type": "object"}},
        description="The tokens a chain takes beside its native coin, by symbol (Bitcart's endpoint); "
        "404 `unknown_crypto` for a chain that is not enabled.",
    )
    def get(self, request: Request, currency: str) -> Response:
        return Response(compliant([coin.symbol for coin in _chain(currency).coins if coin.is_token]))


class ExplorerView(PublicView):
    @extend_schema(
        responses={200: {"type": "string"}, 404: {"type": "object"}},
        description='The chain\'s block explorer transaction page, "{txid}" to replace ("" if none), as a JSON '
        "string; 404 `unknown_crypto` for a chain that is not enabled.",
    )
    def get(self, request: Request, currency: str) -> Response:
        return Response(_chain(currency).explorer_tx)
