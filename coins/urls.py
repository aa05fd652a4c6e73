"""Mounted under api/ (bitcart/api_urls.py), before rates.urls' cryptos/rate. Both spellings, as the rest."""

from django.urls import path

from coins import api

app_name = "coins"

ROUTES = (
    ("cryptos", api.CryptosView, "cryptos"),
    ("cryptos/supported", api.SupportedCryptosView, "supported"),
    ("cryptos/info", api.CryptoInfoView, "info"),
    ("cryptos/tokens/<str:currency>", api.TokensView, "tokens"),
    ("cryptos/explorer/<str:currency>", api.ExplorerView, "explorer"),
)

urlpatterns = [
    *(path(route, view.as_view(), name=name) for route, view, name in ROUTES),
    *(path(f"{route}/", view.as_view()) for route, view, _name in ROUTES),
]
