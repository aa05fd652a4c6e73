"""Wallets in Bitcart's field names (plus `network`: our wallets are per network)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallets.keys import MAX_XPUB_LENGTH, NETWORKS


class WalletSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    user_id = serializers.CharField(source="owner_id", read_only=True)
    name = serializers.CharField(max_length=200)
    xpub = serializers.CharField(max_length=MAX_XPUB_LENGTH)
    currency = serializers.CharField(max_length=10, required=False, default="BTC")
    # Defaults to the network this server runs (regtest in the sandbox, mainnet in production).
    network = serializers.ChoiceField(choices=NETWORKS, required=False, default=lambda: settings.BTC_NETWORK)
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
