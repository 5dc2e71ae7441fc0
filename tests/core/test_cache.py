"""The Redis cache backend builds its client once (building one needs no Redis server)."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from ecommerce.common.cache import RedisCache


def test_the_redis_cache_reuses_one_client_for_every_call() -> None:
    cache = RedisCache("redis://127.0.0.1:6379/15", {})

    client = cache._cache.get_client(write=True)

    assert isinstance(cache, DjangoRedisCache)
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client() is client  # one server: reads and writes share its pool
