"""Test helpers for the coin registry's settings (coins.registry reads settings.COINS)."""

from django.conf import settings as django_settings


def set_chain(settings, key: str = "btc", **changes) -> None:
    """Change one chain's settings (daemon_url, login, password, network, ...) through pytest-django's
    `settings` fixture: a new COINS dict, so the registry is rebuilt and the change is undone after the test."""
    coins = {name: dict(conf) for name, conf in django_settings.COINS.items()}
    coins.setdefault(key, {}).update(changes)
    settings.COINS = coins
