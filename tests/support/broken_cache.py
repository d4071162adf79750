"""A cache backend whose server is down: every read and write raises, as a Redis cache
does when Redis is unreachable. `clear()` is a no-op so test teardown can still run."""

from django.core.cache.backends.base import BaseCache


class CacheServerDown(ConnectionError):
    pass


class BrokenCache(BaseCache):
    def __init__(self, location, params):
        super().__init__(params)

    def _down(self, *args, **kwargs):
        raise CacheServerDown("Error 111 connecting to the cache server. Connection refused.")

    add = get = set = touch = delete = has_key = incr = _down
    get_many = set_many = delete_many = _down

    def clear(self) -> None:
        pass
