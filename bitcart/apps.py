from django.apps import AppConfig


class BitcartConfig(AppConfig):
    name = "bitcart"
    verbose_name = "Bitcart"
