"""`manage.py runcluster`: N daphne nodes on consecutive ports sharing one Redis and one database."""

import os
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from chat.devcluster import Node, start_redis


class Command(BaseCommand):
    help = (
        "Run a local cluster: N daphne nodes on consecutive ports, one shared database and one "
        "Redis (an embedded one on 127.0.0.1 with a random password unless REDIS_URL is set)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--nodes", type=int, default=1, help="number of daphne nodes (default 1)")
        parser.add_argument("--port", type=int, default=8000, help="port of the first node (default 8000)")

    def handle(self, *args, nodes: int, port: int, **options) -> None:
        redis = None
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis = start_redis(data_dir=settings.BASE_DIR / "var" / "redis")
            redis_url = redis.url
            self.stdout.write(f"Embedded Redis (Valkey) on 127.0.0.1:{redis.port}, ACL user 'chat'")
        cluster = [
            Node(name=f"node{i + 1}", port=port + i, env={"REDIS_URL": redis_url}).start(wait=False)
            for i in range(nodes)
        ]
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for node in cluster:
                self.stdout.write(f"{node.name}: {node.http_url}/")
            self.stdout.write(
                "Create an admin account with `make admin` (manage.py createsuperuser); "
                "the admin is at /admin/. Ctrl-C stops everything."
            )
            while not stopping:
                if any(node.process.poll() is not None for node in cluster):
                    self.stderr.write("a node exited; stopping the cluster")
                    break
                time.sleep(0.5)
        finally:
            for node in cluster:
                node.stop()
            if redis is not None:
                redis.stop()
