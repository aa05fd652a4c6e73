"""Merchant API for wallets (watch-only xpubs)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import scopes
from accounts.viewsets import ApiViewSet, list_schema
from wallets.models import Wallet
from wallets.serializers import WalletSerializer, WalletUpdateSerializer
from wallets.services import wallet_create, wallet_delete, wallet_update


class WalletViewSet(ApiViewSet):
    """A watch-only wallet: the extended public key (xpub) of a wallet you hold the keys of.
    Invoices are paid to fresh addresses derived from it; the server never holds its private keys.
    A key can be connected once on this server (409 `wallet_exists`); a wallet with open invoices
    cannot be deleted (409)."""

    scope = scopes.WALLET_MANAGEMENT
    owner_field = "owner"
    store_field = None
    queryset = Wallet.objects.all()
    serializer_class = WalletSerializer
    sort_fields = {"created": "created", "name": "name", "currency": "currency"}
    filter_fields = {"currency": "currency", "network": "network", "name": "name", "label": "label"}
    search_fields = ("name", "label")
    batch_commands = {"delete": "batch_delete"}

    @list_schema(responses=WalletSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=WalletSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=WalletSerializer, responses={201: WalletSerializer})
    def create(self, request: Request) -> Response:
        data = WalletSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wallet = wallet_create(owner=request.user, **data.validated_data)
        return Response(WalletSerializer(wallet).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WalletUpdateSerializer, responses=WalletSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        wallet = self.get_object()
        data = WalletUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        wallet = wallet_update(wallet=wallet, **data.validated_data)
        return Response(WalletSerializer(wallet).data)

    @extend_schema(responses={200: WalletSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        wallet = self.get_object()
        body = WalletSerializer(wallet).data
        wallet_delete(wallet=wallet)
        return Response(body)

    def batch_delete(self, obj: Wallet, options: dict) -> None:
        wallet_delete(wallet=obj)
