from django.contrib import admin
from django.urls import include, path

# The project's urls.py mounts rates.urls under api/; tests mount it the same way.
urlpatterns = [
    path("api/", include("rates.urls")),
    path("admin/", admin.site.urls),
]
