from django.apps import AppConfig


class ApiAuthConfig(AppConfig):
    name = "accounts"
    label = "apiauth"
    verbose_name = "API tokens"
    default_auto_field = "django.db.models.BigAutoField"
