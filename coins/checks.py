"""A system check: a wrong coin configuration stops `manage.py check` (and every command, the server's start
included) with what is wrong, instead of failing at the first invoice."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from coins import registry


@register()
def coins_configured(app_configs=None, **kwargs) -> list[Error]:
    try:
        registry.registry()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="See README: Configuration → Coins.", id="coins.E001")]
    return []
