from django.apps import AppConfig


class DaemonsConfig(AppConfig):
    name = "daemons"
    default_auto_field = "django.db.models.BigAutoField"
