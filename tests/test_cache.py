from django.core.cache import cache


def test_cache_reuses_one_redis_client_and_round_trips():
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    cache.set("test:roundtrip", {"a": 1}, 10)
    assert cache.get("test:roundtrip") == {"a": 1}
    cache.delete("test:roundtrip")
    assert cache.get("test:roundtrip") is None
