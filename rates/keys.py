"""The rate service's cache keys, shared by its writes (services) and reads (selectors)."""

from rates import conf

DEMAND_TTL = 24 * 3600  # a currency someone failed to price in is collected for this long


def _key(*parts: str) -> str:
    return ":".join((conf.cache_namespace(), *parts))


def pair_key(pair: str, namespace: str | None = None) -> str:
    # One key per pair, holding every provider's latest: pricing reads at most six keys.
    return f"{namespace or conf.cache_namespace()}:obs:{pair}"


def rules_key(store_id: str) -> str:
    return _key("rules", str(store_id))


def demand_key() -> str:
    return _key("demand")


def throttle_key(provider: str) -> str:
    return _key("fetched", provider)


def notified_key(store_id: str, pair: str) -> str:
    return _key("notified", store_id, pair)
