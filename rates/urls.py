"""Mounted by the project under api/ (bitcart/api_urls.py). Bitcart's spelling has no trailing slash;
the slash form is answered too, like the rest of the API."""

from django.urls import path

from rates import views

app_name = "rates"

urlpatterns = [
    path("cryptos/rate", views.CryptoRateView.as_view(), name="crypto-rate"),
    path("cryptos/rate/", views.CryptoRateView.as_view()),
    path("stores/<str:store_id>/rates", views.StoreRatesView.as_view(), name="store-rates"),
    path("stores/<str:store_id>/rates/", views.StoreRatesView.as_view()),
]
