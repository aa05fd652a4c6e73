"""Everything under /api/: each app's API routes are included here."""

from django.urls import include, path

urlpatterns = [
    path("", include("bitcart.rates.urls")),
]
