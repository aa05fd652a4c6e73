from django.apps import AppConfig

from coins import checks  # noqa: F401 — registers the coin configuration check (no models: safe this early)


class BitcartConfig(AppConfig):
    name = "bitcart"
    verbose_name = "Bitcart"
