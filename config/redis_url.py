"""REDIS_URL forms: one server, several (sharded), or Redis Sentinel. Parsed once by settings."""

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class RedisConfig:
    """Where Redis is. `urls`: one or more servers; or `master` + `sentinels` for Sentinel."""

    urls: tuple[str, ...] = ()
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    def channel_layer_hosts(self) -> list[dict]:
        """channels-redis `hosts`: one shard per server, or one Sentinel-managed master."""
        if self.is_sentinel:
            credentials = {"username": self.username, "password": self.password}
            return [
                {
                    "sentinels": list(self.sentinels),
                    "master_name": self.master,
                    "db": self.db,
                    **{k: v for k, v in credentials.items() if v},
                    **self.options,
                }
            ]
        return [{"address": url, **self.options} for url in self.urls]


def parse_redis_url(value: str, options: dict) -> RedisConfig:
    """Parse `redis://...`, `rediss://...`, a comma-separated list of those, or
    `redis+sentinel://[user:password@]host:port[,host:port...]/master[/db]`."""
    if value.startswith("redis+sentinel://"):
        parts = urlsplit(value)
        credentials, _, hosts = parts.netloc.rpartition("@")
        username, _, password = credentials.partition(":")
        sentinels = []
        for host in hosts.split(","):
            name, _, port = host.rpartition(":")
            sentinels.append((name, int(port or 26379)) if name else (port, 26379))
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ValueError(
                "redis+sentinel:// needs the master's name: redis+sentinel://host:26379/mymaster"
            )
        return RedisConfig(
            sentinels=tuple(sentinels),
            master=path[0],
            db=int(path[1]) if len(path) > 1 else 0,
            username=unquote(username) or None,
            password=unquote(password) or None,
            options=options,
        )
    urls = tuple(url.strip() for url in value.split(",") if url.strip())
    for url in urls:
        if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"REDIS_URL: unsupported scheme in {url!r}")
    return RedisConfig(urls=urls, options=options)
