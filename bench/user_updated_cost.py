"""What a profile change costs the nodes (docs/architecture.md, "Profiles"): the CPU one node spends
on `user.updated` events with N connections open on it, when none of them fetched the changed user
(the event reaches every connection of the node through the lobby group; each one drops it after a
set look-up) and when all of them did (each one is sent the frame).

Starts a real cluster (Valkey, SQLite, two daphne nodes), opens N WebSockets on node 1, makes K
profile changes through the service on a separate process (which publishes after commit, as a
node or the admin would), and reads node 1's CPU time (utime + stime) before and after; an idle
interval as long gives the baseline (heartbeats, the repair loop).

    .venv/bin/python bench/user_updated_cost.py --connections 1000 --changes 200
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from chat.testing.clients import WsClient  # noqa: E402
from chat.testing.cluster import start_cluster  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def change_profiles(cluster, username: str, changes: int) -> float:
    """K profile changes of one user in one process; returns the wall time they took."""
    code = (
        "import time; from django.contrib.auth import get_user_model; from chat.domain import profiles\n"
        f"u = get_user_model().objects.get(username={username!r}); t = time.monotonic()\n"
        f"for i in range({changes}): profiles.profile_update(user=u, status_text=f'status {{i}}')\n"
        "print(time.monotonic() - t)"
    )
    return float(cluster.django(code))


async def measure(cluster, sockets: list[WsClient], *, watch: bool, target: str, changes: int) -> float:
    pid = cluster.nodes[0].process.pid
    if watch:
        for ws in sockets:
            await ws.send({"type": "users.fetch", "users": [target]})
            await ws.recv_type("users")
    before = cpu_seconds(pid)
    await asyncio.to_thread(change_profiles, cluster, target, changes)
    if watch:  # every connection got every change
        for ws in sockets:
            while (await ws.recv_type("user.updated"))["user"]["status"] != f"status {changes - 1}":
                pass
    else:
        await asyncio.sleep(1.0)  # let the node drain its last events
    return cpu_seconds(pid) - before


async def main(args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-user-updated-"))
    cluster = start_cluster(workdir, CHAT_MAX_SOCKETS_PER_USER=str(args.connections + 10))
    try:
        [(viewer, key), (target, _)] = cluster.make_users(["viewer", "target"])
        port = cluster.nodes[0].port
        sockets = [await WsClient.connect(port, key) for _ in range(args.connections)]
        pid = cluster.nodes[0].process.pid
        idle_start = cpu_seconds(pid)
        wall = time.monotonic()
        await asyncio.sleep(5)
        idle_per_second = (cpu_seconds(pid) - idle_start) / (time.monotonic() - wall)
        for watch in (False, True):
            wall = time.monotonic()
            used = await measure(cluster, sockets, watch=watch, target=target, changes=args.changes)
            elapsed = time.monotonic() - wall
            net = used - idle_per_second * elapsed
            print(
                f"{'all watch' if watch else 'none watch'}: {args.connections} connections, "
                f"{args.changes} changes: node CPU {used:.2f} s in {elapsed:.1f} s "
                f"(idle {idle_per_second * elapsed:.2f} s) -> {net / args.changes * 1000:.2f} ms per change, "
                f"{net / args.changes / args.connections * 1e6:.1f} us per change and connection"
            )
        for ws in sockets:
            await ws.close()
    finally:
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
