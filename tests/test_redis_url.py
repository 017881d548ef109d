"""REDIS_URL parsing: one server, shards, Sentinel."""

import pytest

from config.redis_url import parse_redis_url

OPTIONS = {"socket_timeout": None}


def test_one_server_with_credentials_and_tls():
    config = parse_redis_url("rediss://chat:s3cret@redis.internal:6380/2", OPTIONS)
    assert not config.is_sentinel
    assert config.channel_layer_hosts() == [
        {"address": "rediss://chat:s3cret@redis.internal:6380/2", "socket_timeout": None}
    ]


def test_several_servers_become_channel_layer_shards():
    config = parse_redis_url("redis://a:6379/0, redis://b:6379/0", OPTIONS)
    assert [h["address"] for h in config.channel_layer_hosts()] == ["redis://a:6379/0", "redis://b:6379/0"]


def test_sentinel_url_names_the_sentinels_master_db_and_credentials():
    config = parse_redis_url("redis+sentinel://chat:p%40ss@s1:26379,s2/mymaster/3", OPTIONS)
    assert config.is_sentinel
    assert config.channel_layer_hosts() == [
        {
            "sentinels": [("s1", 26379), ("s2", 26379)],
            "master_name": "mymaster",
            "db": 3,
            "username": "chat",
            "password": "p@ss",
            "socket_timeout": None,
        }
    ]


@pytest.mark.parametrize("url", ["http://x", "redis+sentinel://s1:26379"])
def test_unusable_urls_fail_loudly(url):
    with pytest.raises(ValueError):
        parse_redis_url(url, OPTIONS)
