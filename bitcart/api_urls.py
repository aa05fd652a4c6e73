"""Everything under /api/: Bitcart's merchants API, the OpenAPI schema and its Swagger UI.

Bitcart's URLs have no trailing slash; every route is also answered with one (the schema documents
the Bitcart spelling only).
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from accounts.api import TokenViewSet, UserMeView
from invoices.api import InvoiceViewSet
from stores.api import DiscountViewSet, NotificationViewSet, ProductViewSet, StoreViewSet, TemplateViewSet
from wallets.api import WalletViewSet
from webhooks.api import WebhookEndpointViewSet, WebhookEventsView

RESOURCES = (
    ("stores", StoreViewSet, "stores"),
    ("wallets", WalletViewSet, "wallets"),
    ("invoices", InvoiceViewSet, "invoices"),
    ("products", ProductViewSet, "products"),
    ("discounts", DiscountViewSet, "discounts"),
    ("notifications", NotificationViewSet, "notifications"),
    ("templates", TemplateViewSet, "templates"),
    ("token", TokenViewSet, "token"),
    ("webhooks", WebhookEndpointViewSet, "webhooks"),
)


def _router(trailing_slash: str) -> SimpleRouter:
    router = SimpleRouter(trailing_slash=trailing_slash)  # type: ignore[arg-type]  # DRF takes the text
    for prefix, viewset, basename in RESOURCES:
        router.register(prefix, viewset, basename=basename if not trailing_slash else f"{basename}-slash")
    return router


urlpatterns = [
    path("", include("rates.urls")),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("users/me", UserMeView.as_view(), name="users-me"),
    path("users/me/", UserMeView.as_view()),
    # Before the router: "events" is not an endpoint id.
    path("webhooks/events", WebhookEventsView.as_view(), name="webhook-events"),
    path("webhooks/events/", WebhookEventsView.as_view()),
    *_router("").urls,
    *_router("/").urls,
]
