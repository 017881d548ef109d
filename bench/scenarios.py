"""The measured scenarios: fan-out, subscriber transports, many rooms, idle memory, catch-up, history."""

import asyncio
import json
import os
import signal
import threading
import time

import httpx

from bench.common import SUBSCRIBERS, progress
from bench.loadgen import run_loadgen, start_loadgen, wait_connected
from bench.sampling import cpu_seconds, rss_kib, wait_for_idle_servers, wait_for_quiet
from bench.servers import Deployment, room_names
from chat.testing.clients import WsClient


def fanout(deployment: Deployment, rates: list[int], duration: float) -> list[dict]:
    [room] = room_names(deployment, 1, "fanout")
    subscribers = [deployment.clients("sub", i, room) for i in range(SUBSCRIBERS)]
    rows = []
    for run, rate in enumerate(rates):
        progress(f"{deployment.design}: fan-out, {rate} msg/s to {SUBSCRIBERS} subscribers")
        plan = {
            "design": deployment.design, "run": f"f{run}", "duration": duration, "drain": 5, "settle": 1,
            "subscribers": subscribers, "publishers": [{**deployment.clients("pub", 0, room), "rate": rate}],
        }  # fmt: skip
        result = run_loadgen(deployment, plan)
        result["rate"] = rate
        result["deliveries_per_s"] = result["received"] / duration
        rows.append(result)
        if result["lost"] > result["expected"] * 0.5:
            break  # far past capacity; higher rates only take longer
    return rows


# Subscriber transports of the `transports` scenario (the publisher always uses /ws/).
TRANSPORTS = ("ws", "xhr-streaming", "sockjs-websocket", "stomp")


def on_transport(client: dict, transport: str) -> dict:
    """One of our clients moved to a SockJS transport of the same node (url: the SockJS prefix), or
    to STOMP over WebSocket (url: the STOMP endpoint)."""
    if transport == "ws":
        return client
    if transport == "stomp":
        return {**client, "url": client["origin"].replace("http", "ws", 1) + "/stomp", "transport": transport}
    return {**client, "url": client["origin"] + "/sockjs", "transport": transport}


def transports(deployment: Deployment, names: list[str], steps: list[tuple[int, float]]) -> dict:
    """Fan-out as above, once per subscriber transport at each (rate, duration) step (interleaved,
    so that any drift of the machine over the run falls on every transport alike). Each step has a
    room of its own, empty at the start, so that no step inherits an earlier step's history
    (catch-up work, and bytes counted against a streaming response's limit)."""
    # Two rooms per step: a step disturbed by other work on the machine is run again, once.
    fresh_rooms = iter(room_names(deployment, 2 * len(steps) * len(names), "transports"))

    def attempt(run: str, transport: str, rate: int, duration: float) -> dict:
        waited = wait_for_quiet(deployment)
        if waited > 2.5:
            progress(f"waited {waited:.0f} s for other processes to leave the CPU")
        progress(f"{transport}: fan-out, {rate} msg/s for {duration:g} s to {SUBSCRIBERS} subscribers")
        room = next(fresh_rooms)
        subscribers = [
            on_transport(deployment.clients("sub", i, room), transport) for i in range(SUBSCRIBERS)
        ]
        publisher = {**deployment.clients("pub", 0, room), "rate": rate}
        plan = {
            "design": "ours", "run": run, "duration": duration, "drain": 5, "settle": 1,
            "subscribers": subscribers, "publishers": [publisher],
        }  # fmt: skip
        return run_loadgen(deployment, plan)

    rows: dict[str, list[dict]] = {transport: [] for transport in names}
    for run, (rate, duration) in enumerate(steps):
        for transport in names:
            if rows[transport] and rows[transport][-1]["lost"] > rows[transport][-1]["expected"] * 0.5:
                continue  # far past this transport's capacity already
            result = attempt(f"t{run}-{transport}", transport, rate, duration)
            if result["other_cpu"] > 0.1 * (result["wall"] + 3):
                # Someone else's work took over a tenth of a core meanwhile: once more, keep the quieter.
                progress(f"other processes used {result['other_cpu']:.1f} CPU seconds meanwhile: once more")
                again = attempt(f"t{run}-{transport}-again", transport, rate, duration)
                result = min(result, again, key=lambda r: r["other_cpu"])
            result.update(rate=rate, duration=duration, deliveries_per_s=result["received"] / duration)
            rows[transport].append(result)
    return rows


def connection_cost(deployment: Deployment, connections: int, *, history: int, rounds: int = 3) -> dict:
    """Server CPU per connect + authenticate + subscribe, in microseconds (the median of `rounds`).

    `connections` clients (over CONNECT_ROOMS rooms, each seeded with `history` messages for ours)
    connect, 50 at a time, each until its subscription is in place: ours until the `presence`
    frame that ends `subscribe` (after `subscribed` and the history page), the tutorial design
    until the socket is open (its connect() joined the room's group), python-socketio until the
    namespace's "40" answer (its connect handler entered the room). The servers' CPU (both
    processes, from /proc) is read when the load generator starts connecting and when every
    client is subscribed; `cycle` also counts closing them, up to when the servers are idle again.
    """
    what = f"{history} messages of history" if history else "empty history"
    progress(
        f"{deployment.design}: connection cost, {connections} connects over {CONNECT_ROOMS} rooms, {what}"
    )
    rooms = room_names(deployment, CONNECT_ROOMS, f"connect{history}-")
    if history and deployment.cluster is not None:
        # An author per room: client_msg_id ('seed-<n>') is unique per author.
        authors = [name for name, _ in deployment.cluster.make_sessions(CONNECT_ROOMS, f"author-{rooms[0]}-")]
        deployment.cluster.django(
            "from bench.seed import seed_history\n"
            f"for slug, name in {list(zip(rooms, authors, strict=True))!r}: seed_history(slug, name, {history})\n"
            "print('ok')"
        )
    samples = []
    for run in range(rounds):
        wait_for_idle_servers(deployment)
        plan = {
            "design": deployment.design, "run": f"connect{history}-{run}", "duration": 0.01, "drain": 0,
            "subscribers": [deployment.clients("sub", i, rooms[i % CONNECT_ROOMS]) for i in range(connections)],
            "publishers": [],
        }  # fmt: skip
        before = sum(cpu_seconds(pid) for pid in deployment.pids)
        result = run_loadgen(deployment, plan)
        wait_for_idle_servers(deployment)
        cycle = sum(cpu_seconds(pid) for pid in deployment.pids) - before
        samples.append(
            {
                "connect_us": 1e6 * result["server_cpu_connecting"] / connections,
                "cycle_us": 1e6 * cycle / connections,
                "connect_wall_s": result["connect_wall"],
                "loadgen_core": result["loadgen_cpu_connecting"] / max(result["connect_wall"], 1e-3),
                "other_cpu": result["other_cpu"],
            }
        )
    samples.sort(key=lambda sample: sample["connect_us"])
    stages = None
    if deployment.cluster is not None:
        # Where ours' time goes, stage by stage (bench/connect_stages.py), in a process of its own.
        stages = json.loads(
            deployment.cluster.django(
                "import json; from bench.connect_stages import measure\n"
                f"print(json.dumps(measure({rooms[0]!r})))"
            )
        )
    return {
        "connections": connections,
        "history": history,
        "median": samples[len(samples) // 2],
        "rounds": samples,
        "stages": stages,
    }


# Rooms the connection-cost clients are spread over (a presence set and a group each).
CONNECT_ROOMS = 10


# How often a subscriber of ours reports its read position in many rooms, at most (seconds): as
# chat/static/chat/reads.js does.
READ_INTERVAL = 1.0


def many_rooms(
    deployment: Deployment,
    duration: float,
    *,
    mix: float = 0.0,
    reads: bool = True,
    round_: int = 0,
    rate: float = 2,
) -> dict:
    """100 rooms of 2 members, each member sending 2 messages/s (800 deliveries/s in all; `rate`
    changes the 2).

    `mix` (ours only): that share of the sends are changes instead (edits of the sender's last
    message and reaction toggles on it, alternately), each delivered to the room like a message.
    Our subscribers also report their read positions as the web UI does (`read` frames, at most one
    per READ_INTERVAL), and the result carries the database writes they caused (`read_writes`);
    `reads=False` leaves them out (for comparison).
    `round_`: runs repeated on the same servers need their own client_msg_ids (the publishers'
    sessions are the same, and a repeated id in another room is refused).
    """
    what = f", {mix:.0%} of them edits and reactions" if mix else ""
    progress(f"{deployment.design}: many rooms, 100 rooms of 2, {rate:g} msg/s per member{what}")
    rooms = room_names(deployment, 100, "mixed" if mix else "pair")
    plan = {
        "design": deployment.design,
        "run": ("mixed" if mix else "rooms") + ("" if reads else "-plain") + (str(round_) if round_ else ""),
        "duration": duration, "drain": 5, "settle": 1, "mix": mix,
        "reads": READ_INTERVAL if reads and deployment.design.startswith("ours") else None,
        "subscribers": [deployment.clients("sub", i, rooms[i // 2]) for i in range(SUBSCRIBERS)],
        "publishers": [
            {**deployment.clients("pub", i, rooms[i // 2]), "rate": rate} for i in range(SUBSCRIBERS)
        ],
    }  # fmt: skip
    if not plan["reads"]:
        return run_loadgen(deployment, plan)
    before = read_metrics(deployment)
    result = run_loadgen(deployment, plan)
    # The last flush of each node comes up to CHAT_READ_FLUSH_INTERVAL after the last read.
    time.sleep(1.5)
    after = read_metrics(deployment)
    writes = {name: after[name] - before[name] for name in after}
    result["read_writes"] = {
        **writes, "reads_sent": result.pop("reads_sent", 0), "wall": result["wall"],
        "readers": len(plan["subscribers"]),
    }  # fmt: skip
    return result


READ_METRICS = (
    "chat_read_frames_total",
    "chat_read_flush_statements_total",
    "chat_read_positions_written_total",
)


def read_metrics(deployment: Deployment) -> dict[str, float]:
    """The read-position counters of /metrics, summed over both nodes."""
    totals = dict.fromkeys(READ_METRICS, 0.0)
    for node in deployment.cluster.nodes:
        for line in httpx.get(f"{node.http_url}/metrics", timeout=10).text.splitlines():
            name, _, value = line.partition(" ")
            if name in totals:
                totals[name] += float(value)
    return totals


# Sockets per load-generator process in the idle-memory steps (the machine allows 20,000 open files
# per process; several processes also keep connecting from being bound by one client core).
SOCKETS_PER_LOADGEN = 4000


def idle_memory(
    deployment: Deployment, connections: int, rooms: int, *, one_node: bool = False, idle_window: float = 0
) -> dict:
    """Server RSS per idle connection in kB: `connections` spread over `rooms` rooms (client i in
    room i % rooms), on both nodes (or all on node 0 with `one_node`), held open by load-generator
    processes of SOCKETS_PER_LOADGEN sockets each. Run on a fresh deployment: RSS is read after
    20 warm-up connections have come and gone (what a node loads once, on its first connection, is
    not a cost per connection), then 5 s after the last connection is in place. With `idle_window`,
    the nodes' CPU is then read over that many seconds: what idle connections cost (heartbeats,
    presence, the repair loop)."""
    where = "node 0" if one_node else "both nodes"
    progress(f"{deployment.design}: idle memory, {connections:,} connections over {rooms} rooms on {where}")
    slugs = room_names(deployment, rooms, f"idle{connections}-")
    pids = deployment.pids[:1] if one_node else deployment.pids

    def client(i: int) -> dict:
        # Client index 2k goes to node 0 (deployment.clients spreads index i to node i % 2).
        return deployment.clients("sub", 2 * i if one_node else i, slugs[i % rooms])

    warm = {"design": deployment.design, "run": "warm", "duration": 0.01, "drain": 0,
            "subscribers": [client(i) for i in range(20)], "publishers": []}  # fmt: skip
    run_loadgen(deployment, warm)
    wait_for_idle_servers(deployment)
    before = sum(rss_kib(pid) for pid in pids)
    processes = []
    try:
        for start in range(0, connections, SOCKETS_PER_LOADGEN):
            plan = {
                "design": deployment.design, "run": f"idle{start}", "duration": 0.01, "drain": 0,
                "hold": 3600, "batch": 25,
                "subscribers": [client(i) for i in range(start, min(connections, start + SOCKETS_PER_LOADGEN))],
                "publishers": [],
            }  # fmt: skip
            processes.append(start_loadgen(plan))
        connected = sum(wait_connected(process) for process in processes)
        if connected < connections:
            progress(
                f"{connections - connected} of {connections:,} connections failed (counted per open one)"
            )
        time.sleep(5)  # let the servers settle (presence polls, the joins' frames)
        during = sum(rss_kib(pid) for pid in pids)
        idle_core = None
        if idle_window:
            cpu = sum(cpu_seconds(pid) for pid in pids)
            time.sleep(idle_window)
            idle_core = (sum(cpu_seconds(pid) for pid in pids) - cpu) / idle_window
    finally:
        for process in processes:
            process.stdin.close()
        for process in processes:
            process.stdout.read()  # up to its result line and exit
            process.wait(timeout=120)
    return {
        "connections": connections, "rooms": rooms, "nodes": 1 if one_node else 2,
        "kb_per_connection": (during - before) * 1.024 / max(1, connected), "connected": connected,
        "rss_before_kib": before, "rss_during_kib": during, "idle_core": idle_core,
    }  # fmt: skip


def reconnect_storm(
    deployment: Deployment, clients: int, rooms: int, *, duration: float, kill_after: float
) -> dict:
    """Kill one of the two nodes (SIGKILL) while `clients` subscribers over `rooms` rooms receive a
    message per room per second; the dead node's clients reconnect to the survivor (loadgen.mjs,
    "Reconnect storm"). Publishers, one per room, are on the survivor. Returns the load generator's
    result: lost and duplicated messages over the whole run, and `storm`: how long the reconnecting
    clients took to be current again, and the survivors' own latencies meanwhile."""
    progress(
        f"{deployment.design}: reconnect storm, {clients:,} clients over {rooms} rooms, "
        f"node 2 killed after {kill_after:g} s"
    )
    slugs = room_names(deployment, rooms, "storm")
    subscribers = []
    for i in range(clients):
        client = deployment.clients("sub", i, slugs[i % rooms])  # client i is on node i % 2
        if i % 2:
            survivor = deployment.clients("sub", i - 1, slugs[i % rooms])  # the same room on node 1
            client["fallback"] = {"url": survivor["url"], "origin": survivor.get("origin")}
        else:
            client["survivor"] = True
        subscribers.append(client)
    plan = {
        "design": deployment.design, "run": "storm", "storm": True, "duration": duration, "drain": 30,
        "settle": 1, "batch": 50, "subscribers": subscribers,
        # Publisher 2k connects to node 1 (the survivor); one per room, 1 message/s each.
        "publishers": [{**deployment.clients("pub", 2 * k, slug), "rate": 1} for k, slug in enumerate(slugs)],
    }  # fmt: skip
    killed = threading.Event()

    def kill_at_sending(line: str) -> None:
        if line.startswith('{"phase": "sending"}') or line.startswith('{"phase":"sending"}'):
            threading.Timer(
                kill_after, lambda: (os.kill(deployment.pids[1], signal.SIGKILL), killed.set())
            ).start()

    result = run_loadgen(deployment, plan, on_line=kill_at_sending, pids=deployment.pids[:1])
    assert killed.is_set(), "node 2 was not killed during the run"
    return result


def catch_up(deployment: Deployment, missed: int = 500) -> float:
    """Seconds for a client to reconnect with `since` and receive `missed` messages (ours only)."""
    progress(f"{deployment.design}: catch-up of {missed} messages")
    cluster = deployment.cluster
    [room] = cluster.make_rooms(["Catch-up"])
    name, key = cluster.make_sessions(1, "catchup")[0]
    cluster.django(
        "from chat.domain import services; from chat.models import Room; from django.contrib.auth import get_user_model\n"
        f"room = Room.objects.get(slug='{room}'); user = get_user_model().objects.get(username='{name}')\n"
        f"for i in range({missed}): services.message_create(room=room, author=user, body=f'm{{i}}', client_msg_id=f'c{{i}}')\n"
        "print('ok')"
    )

    async def measure() -> float:
        started = time.perf_counter()
        ws = await WsClient.connect(cluster.nodes[1].port, key)
        await ws.send({"type": "subscribe", "room": room, "since": 0})
        got = 0
        while got < missed:
            frame = await ws.recv(timeout=10)
            got += frame["type"] == "message"
        elapsed = time.perf_counter() - started
        await ws.close()
        return elapsed

    return min(asyncio.run(measure()) for _ in range(3))


def history_at_scale(deployment: Deployment, rows: int = 1_000_000, fetches: int = 300) -> dict:
    """history.fetch latency (p50, p99 in ms) in a room holding `rows` messages (ours)."""
    progress(f"{deployment.design}: history with {rows:,} messages (seeding)")
    cluster = deployment.cluster
    [room] = cluster.make_rooms(["History"])
    name, key = cluster.make_sessions(1, "history")[0]
    cluster.django(
        f"from bench.seed import seed_history; seed_history({room!r}, {name!r}, {rows}); print('ok')"
    )
    progress(f"{deployment.design}: {fetches} history.fetch calls at random depths")

    async def measure() -> list[float]:
        import random

        ws = await WsClient.connect(cluster.nodes[0].port, key)
        timings = []
        for _ in range(fetches):
            started = time.perf_counter()
            await ws.send(
                {"type": "history.fetch", "room": room, "before_seq": random.randint(2, rows), "limit": 50}
            )
            await ws.recv_type("history")
            timings.append((time.perf_counter() - started) * 1000)
        await ws.close()
        return sorted(timings)

    timings = asyncio.run(measure())
    return {"rows": rows, "p50": timings[len(timings) // 2], "p99": timings[int(len(timings) * 0.99)]}


def capacity(rows: list[dict]) -> float:
    """Deliveries/s of the highest step up to which every step kept p99 under 100 ms with 0 lost.

    Up to which, not at which: a design whose p99 is about 100 ms at every rate (the tutorial
    design's was 95-118 ms from 1 to 25 msg/s in one run) passes some steps by chance, and the
    highest lucky one is not a load it can be run at. `capacity_any_step` is that other reading."""
    met = 0.0
    for row in sorted(rows, key=lambda r: r["rate"]):
        if not _meets_bar(row):
            break
        met = row["deliveries_per_s"]
    return met


def capacity_any_step(rows: list[dict]) -> float:
    """Deliveries/s of the highest step that kept p99 under 100 ms with 0 lost, whatever the others did."""
    return max((r["deliveries_per_s"] for r in rows if _meets_bar(r)), default=0.0)


def _meets_bar(row: dict) -> bool:
    return row["lost"] == 0 and row["p99"] is not None and row["p99"] < 100


# Queries of the search scenario, by kind: each call picks one of its kind's at random. The words
# come from bench/seed.py's vocabulary: common words are its first, medium ones (about 1% of
# messages, where an index scan by date and the full-text index cost about the same) its 60th to
# 90th, rare ones its RARE list.
SEARCH_QUERIES = {
    "common word": ["the", "you", "it", "can", "this"],
    "medium word": ["meeting", "deploy", "review", "release", "server"],
    "rare word": ["zeppelin", "quokka", "fjord", "walrus", "nebula"],
    "two words": ["deploy server", "review tests", "meeting tomorrow", "database slow", "release friday"],
    "phrase": ['"see you tomorrow"', '"code review"', '"pull request"', '"on my way"', '"good morning"'],
    "Korean word": ["회의", "보고서", "프로젝트", "배포", "검색"],
}


def search_at_scale(
    deployment: Deployment, rows: int = 1_000_000, calls: int = 200, budget_s: float = 60
) -> dict:
    """`search` frame round trips (p50, p99 in ms) over `rows` seeded messages in 100 rooms (ours).

    One user, member of 5 of the 20 private rooms, sends `search` frames one after the other on one
    socket and times each until its `search.results` (a page of 20: the selector's SQL, loading the
    messages, highlighting). For each kind of query and each order, `calls` calls, or as many as fit
    in `budget_s` seconds (at least 20) when they are slow, after one unmeasured call of each query."""
    import random

    progress(f"{deployment.design}: search over {rows:,} messages (seeding)")
    cluster = deployment.cluster
    name, key = cluster.make_sessions(1, "searcher")[0]
    started = time.perf_counter()
    seeded = json.loads(
        cluster.django(
            f"import json; from bench.seed import seed_search; print(json.dumps(seed_search({name!r}, {rows})))"
        )
    )
    seed_s = time.perf_counter() - started
    queries = [q for kind in SEARCH_QUERIES.values() for q in kind]
    progress(f"{deployment.design}: seeded in {seed_s:.0f} s; counting matches")
    counts = json.loads(
        cluster.django(
            "import json; from bench.seed import search_match_counts\n"
            f"print(json.dumps(search_match_counts({name!r}, {queries!r})))"
        )
    )

    async def measure() -> dict:
        ws = await WsClient.connect(cluster.nodes[0].port, key)
        refs = iter(range(10**9))

        async def call(query: str, order: str) -> float:
            ref = f"s{next(refs)}"
            started = time.perf_counter()
            await ws.send({"type": "search", "query": query, "order": order, "ref": ref})
            while True:
                frame = await ws.recv(timeout=30)
                if frame["type"] == "error":
                    raise RuntimeError(f"search {query!r} refused: {frame}")
                if frame["type"] == "search.results" and frame.get("ref") == ref:
                    return (time.perf_counter() - started) * 1000

        for order in ("newest", "relevance"):
            for query in queries:
                await call(query, order)  # warm-up, not measured
        out = {}
        for kind, choices in SEARCH_QUERIES.items():
            for order in ("newest", "relevance"):
                progress(f"{deployment.design}: search, {kind}, order={order}, {calls} calls")
                timings, began = [], time.perf_counter()
                while len(timings) < calls and (len(timings) < 20 or time.perf_counter() - began < budget_s):
                    timings.append(await call(random.choice(choices), order))
                timings.sort()
                out[f"{kind}|{order}"] = {
                    "kind": kind, "order": order, "calls": len(timings),
                    "p50": timings[len(timings) // 2], "p99": timings[int(len(timings) * 0.99)],
                    "max": timings[-1],
                }  # fmt: skip
        await ws.close()
        return out

    return {
        "rows": rows, "seed_s": seed_s, "rooms": len(seeded["rooms"]), "private": len(seeded["private"]),
        "member_of": len(seeded["member_of"]), "matches": counts, "queries": SEARCH_QUERIES,
        "timings": asyncio.run(measure()),
    }  # fmt: skip
