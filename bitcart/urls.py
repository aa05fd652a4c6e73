from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve


def media(request, path: str):
    """Uploaded product images. A self-hosted single-node install has no other server for them;
    `serve` confines paths to MEDIA_ROOT (read per request). Behind nginx, serve /media/ there."""
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))


urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/", include("bitcart.api_urls")),
    path("", include("invoices.urls")),
    path("", include("stores.urls")),
    re_path(r"^media/(?P<path>.+)$", media),
]
