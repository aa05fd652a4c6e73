"""Everything under /api/: Bitcart's merchants API, the OpenAPI schema and its Swagger UI.

Bitcart's URLs have no trailing slash; every route is also answered with one (the schema documents
the Bitcart spelling only).
"""

from django.urls import include, path, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

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


class ApiRootView(APIView):
    """Where to start: the API's documentation and its OpenAPI schema. Anyone may call this."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "ApiRoot",
            {
                "name": serializers.CharField(),
                "docs": serializers.CharField(help_text="Interactive documentation (Swagger UI)."),
                "schema": serializers.CharField(help_text="The OpenAPI 3 schema, JSON or YAML."),
            },
        )
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": "Bitcart merchants API",
                "docs": request.build_absolute_uri(reverse("api-docs")),
                "schema": request.build_absolute_uri(reverse("api-schema")),
            }
        )


def _router(trailing_slash: str) -> SimpleRouter:
    router = SimpleRouter(trailing_slash=trailing_slash)  # type: ignore[arg-type]  # DRF takes the text
    for prefix, viewset, basename in RESOURCES:
        router.register(prefix, viewset, basename=basename if not trailing_slash else f"{basename}-slash")
    return router


urlpatterns = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("coins.urls")),
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
