"""Wallets in Bitcart's field names (plus `network`: our wallets are per network)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallets.keys import MAX_XPUB_LENGTH


class WalletSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    user_id = serializers.CharField(source="owner_id", read_only=True)
    name = serializers.CharField(max_length=200)
    xpub = serializers.CharField(
        max_length=MAX_XPUB_LENGTH,
        help_text="Bitcoin: the account xpub/ypub/zpub (never a private key). Ethereum: the merchant's address, "
        "which takes ETH and the chain's tokens (GET /api/cryptos).",
    )
    currency = serializers.CharField(
        max_length=10, required=False, default="BTC", help_text="The chain: an enabled coin's symbol (BTC, ETH)."
    )
    # Defaults to the network this server runs the chain on (regtest in the sandbox, mainnet in production).
    network = serializers.CharField(max_length=20, required=False, default=None, allow_null=True)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")  # type: ignore[assignment]
    transaction_speed = serializers.IntegerField(
        min_value=0, max_value=6, required=False, allow_null=True, default=None
    )
    lightning_enabled = serializers.SerializerMethodField()
    contract = serializers.SerializerMethodField()
    additional_xpub_data = serializers.SerializerMethodField()
    created = serializers.DateTimeField(read_only=True)

    def get_lightning_enabled(self, obj) -> bool:
        return False

    @extend_schema_field({"type": "string"})
    def get_contract(self, obj) -> str:
        return ""

    @extend_schema_field({"type": "object"})
    def get_additional_xpub_data(self, obj) -> dict:
        return {}


class WalletUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)  # type: ignore[assignment]
    transaction_speed = serializers.IntegerField(min_value=0, max_value=6, required=False, allow_null=True)
