"""Benchmark: our server against the Channels tutorial design and python-socketio, in one run.

    make bench                 (or: .venv/bin/python bench/run.py [--quick] [--designs ours,tutorial])
    .venv/bin/python bench/run.py --scenarios transports [--quick] [--transports ws,xhr-streaming]
    .venv/bin/python bench/run.py --scenarios search [--database postgres] [--quick]
    .venv/bin/python bench/run.py --scenarios reads [--database postgres] [--quick]
    .venv/bin/python bench/run.py --scenarios connections,storm [--designs ours,socketio] [--quick]

Each design runs as two server processes sharing one Redis (Valkey) on this machine, driven by the
same Node load generator (bench/loadgen.mjs). Prints a table, the ratios ours / each baseline, and
writes bench/results/latency.png and results.json. Every load loop is bounded in count and time.
`--designs ours,ours-uvicorn` also runs our application on uvicorn instead of daphne.

The `transports` scenario runs our server only: the same fan-out with the subscribers on the raw
WebSocket (/ws/), on SockJS xhr-streaming and on the framed SockJS WebSocket (/sockjs/); it writes
bench/results/transports.json and transports.png.

The `changes` scenario runs our server only: the many-rooms run, plain and with 1 in 5 sends an edit
or a reaction, alternately, `--rounds` times each (10 s per run; `--quick`: 5 s; `--rate 1`: half
the load, for a machine too busy to serve 800 deliveries/s without queueing), and prints each
pair's figures (changes against plain sends: p99 and server CPU per delivered change) and their
medians; it writes bench/results/changes.json.

The `search` scenario runs our server only: it seeds 1,000,000 messages of English and Korean text
over 100 rooms (bench/seed.py, one SQL statement) and times `search` frames on a socket, for a common
word, a rare word, two words, a phrase and a Korean word, newest first and by relevance (`--quick`:
100,000 messages, 50 calls each); it writes bench/results/search-<database>.json.

The `reads` scenario runs our many-rooms step alone (its subscribers send `read` frames as the web UI
does) and prints the read-position writes it caused.
"""

import argparse
import sys
import tempfile
from pathlib import Path

# This file parses the arguments and runs the steps. The rest of the bench, beside it: servers.py
# (start each design), sampling.py (CPU and RSS from /proc), loadgen.py (drive loadgen.mjs),
# scenarios.py (what is measured), report.py (tables, JSON, plots), common.py (paths, sizes).
BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.common import RESULTS, progress  # noqa: E402
from bench.report import (  # noqa: E402
    read_writes_line,
    report,
    report_changes,
    report_connections,
    report_search,
    report_storm,
    report_transports,
)
from bench.sampling import wait_for_idle_servers  # noqa: E402
from bench.scenarios import (  # noqa: E402
    TRANSPORTS,
    capacity,
    capacity_any_step,
    catch_up,
    connection_cost,
    fanout,
    history_at_scale,
    idle_memory,
    many_rooms,
    reconnect_storm,
    search_at_scale,
    transports,
)
from bench.servers import DATABASE, STARTERS, start_ours  # noqa: E402
from chat.testing.cluster import start_postgres  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--designs", default="ours,tutorial,socketio")
    parser.add_argument(
        "--scenarios",
        default="designs,connections,storm",
        help="designs (ours against the baselines: fan-out, many rooms), connections (every design: the "
        "cost of a connection, idle memory on fresh servers; ours: 15,000 idle sockets on one node), "
        "storm (ours and python-socketio: a node killed, its clients reconnect to the other), "
        "transports (ours: /ws/ against SockJS), search (ours: search over 1,000,000 messages), reads "
        "(ours: many rooms with read positions), changes (ours: edits and reactions against sends), or "
        "several, comma-separated",
    )
    parser.add_argument("--rounds", type=int, default=3, help="for the changes scenario")
    parser.add_argument(
        "--rate",
        type=float,
        default=2,
        help="for the changes scenario: messages/s per member (2: 800 deliveries/s)",
    )
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help="for the transports scenario")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter steps (about 3 minutes)")
    parser.add_argument(
        "--database", choices=["sqlite", "postgres"], default="sqlite", help="our server's database"
    )
    parser.add_argument(
        "--search-rows", type=int, default=1_000_000, help="messages seeded for the search scenario"
    )
    args = parser.parse_args()
    postgres = start_postgres() if args.database == "postgres" else None
    DATABASE["url"] = postgres.url if postgres else None
    try:
        scenarios = args.scenarios.split(",")
        known = {"designs", "connections", "storm", "transports", "search", "reads", "changes"}
        assert set(scenarios) <= known, f"scenarios: {', '.join(sorted(known))}"
        if "designs" in scenarios:
            run_all(args)
        if "connections" in scenarios:
            run_connections(args)
        if "storm" in scenarios:
            run_storm(args)
        if "transports" in scenarios:
            run_transports(args)
        if "search" in scenarios:
            run_search(args)
        if "reads" in scenarios:
            run_reads(args)
        if "changes" in scenarios:
            run_changes(args)
    finally:
        if postgres:
            postgres.stop()


def run_all(args) -> None:
    rates = [1, 10, 25, 50] if args.quick else [1, 5, 10, 25, 50, 75, 100, 150]
    duration = 3 if args.quick else 5
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for design in args.designs.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-{design}-") as workdir:
            progress(f"starting {design}: two server processes, one Redis")
            deployment = STARTERS[design](Path(workdir))
            try:
                rows = fanout(deployment, rates, duration)
                results[design] = {
                    "fanout": rows, "capacity": capacity(rows), "capacity_any_step": capacity_any_step(rows)
                }  # fmt: skip
                wait_for_idle_servers(deployment)
                # The same workload for every design (ours' clients send no `read` frames here).
                results[design]["many_rooms"] = many_rooms(deployment, duration, reads=False)
                if design == "ours":
                    wait_for_idle_servers(deployment)
                    results[design]["many_rooms_mixed"] = many_rooms(
                        deployment, duration, mix=0.2, reads=False
                    )
                    wait_for_idle_servers(deployment)
                    # As the web UI is used: every subscriber also reports its read position.
                    results[design]["many_rooms_reads"] = many_rooms(deployment, duration)
                    results[design]["catch_up_500_s"] = catch_up(deployment)
                    results[design]["history_1m"] = history_at_scale(
                        deployment, rows=100_000 if args.quick else 1_000_000
                    )
            finally:
                deployment.stop()
    report(results)


def run_reads(args) -> None:
    """Many rooms on our server alone, its subscribers sending `read` frames; prints their writes."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as workdir:
        progress("starting ours: two server processes, one Redis")
        deployment = start_ours(Path(workdir))
        try:
            # Without reads first, then with them, back to back: what reading adds to the sends.
            plain = many_rooms(deployment, 3 if args.quick else 10, reads=False)
            wait_for_idle_servers(deployment)
            result = many_rooms(deployment, 3 if args.quick else 10)
        finally:
            deployment.stop()
    for name, run in (("without reads", plain), ("with reads", result)):
        lost = 100 * run["lost"] / max(1, run["expected"])
        p50, p99 = (f"{run[q]:.1f} ms" if run[q] is not None else "-" for q in ("p50", "p99"))
        print(f"many rooms {name}: p50 {p50}, p99 {p99}, lost {lost:.1f}% of {run['expected']}")
    print(read_writes_line(result))


def run_connections(args) -> None:
    """Per design, on fresh deployments: idle memory at each size (a deployment each), then the CPU
    of a connection (empty history, a 50-message page) on the deployment of the smallest; for ours
    also IDLE_SCALE (15,000 sockets over 500 rooms) on one node of a fresh deployment."""
    sizes = [(1000, 100)] if args.quick else [(1000, 100), (10_000, 100)]
    connects, rounds = (200, 2) if args.quick else (400, 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for design in args.designs.split(","):
        results[design] = {"idle": [], "connect": {}}
        for index, (connections, rooms) in enumerate(sizes):
            with tempfile.TemporaryDirectory(prefix=f"bench-{design}-") as workdir:
                progress(f"starting {design} (fresh): two server processes, one Redis")
                deployment = STARTERS[design](Path(workdir))
                try:
                    results[design]["idle"].append(idle_memory(deployment, connections, rooms))
                    if index == 0:
                        for history in (0, 50) if design.startswith("ours") else (0,):
                            results[design]["connect"][history] = connection_cost(
                                deployment, connects, history=history, rounds=rounds
                            )
                finally:
                    deployment.stop()
        if design == "ours":
            with tempfile.TemporaryDirectory(prefix="bench-ours-") as workdir:
                progress("starting ours (fresh) for the idle-scale step")
                deployment = STARTERS[design](Path(workdir))
                try:
                    connections, rooms, window = IDLE_SCALE_QUICK if args.quick else IDLE_SCALE
                    results[design]["idle_scale"] = idle_memory(
                        deployment, connections, rooms, one_node=True, idle_window=window
                    )
                finally:
                    deployment.stop()
    report_connections(results)


# The idle-scale step: this many sockets over this many rooms on one node, and the seconds over
# which its idle CPU is read (issue #14); --quick runs a smaller one.
IDLE_SCALE = (15_000, 500, 30)
IDLE_SCALE_QUICK = (2_000, 100, 10)


# The reconnect storm: clients, rooms, seconds of sending, when node 2 is killed (issue #14).
STORM = (5000, 100, 30, 10)
STORM_QUICK = (600, 50, 15, 5)


def run_storm(args) -> None:
    """Ours and python-socketio (the designs named that have reconnecting clients), each on a fresh
    deployment: node 2 is killed mid-run and its clients reconnect to node 1."""
    clients, rooms, duration, kill_after = STORM_QUICK if args.quick else STORM
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for design in args.designs.split(","):
        if design not in ("ours", "socketio"):
            continue
        with tempfile.TemporaryDirectory(prefix=f"bench-{design}-") as workdir:
            progress(f"starting {design} (fresh) for the reconnect storm")
            deployment = STARTERS[design](Path(workdir))
            try:
                results[design] = reconnect_storm(
                    deployment, clients, rooms, duration=duration, kill_after=kill_after
                )
            finally:
                deployment.stop()
    report_storm(results)


def run_transports(args) -> None:
    # Short steps measure the cost per message. A streaming response ends after 128 KiB (about
    # 480 messages here), so only the long step, 1,200 messages, has every xhr-streaming subscriber
    # reopen its stream (twice), as a long-lived client does: it measures what reopening costs.
    if args.quick:
        steps = [(1, 3), (10, 3), (40, 3)]
    else:
        steps = [(1, 5), (10, 5), (25, 5), (40, 5), (50, 5), (75, 5), (40, 30)]
    chosen = args.transports.split(",")
    assert set(chosen) <= set(TRANSPORTS), f"transports: {', '.join(TRANSPORTS)}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-transports-") as workdir:
        progress("starting ours: two server processes, one Redis")
        deployment = start_ours(Path(workdir))
        try:
            rows = transports(deployment, chosen, steps)
        finally:
            deployment.stop()
    report_transports(rows)


def run_changes(args) -> None:
    duration = 5 if args.quick else 10
    RESULTS.mkdir(parents=True, exist_ok=True)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-changes-") as workdir:
        progress("starting ours: two server processes, one Redis")
        deployment = start_ours(Path(workdir))
        try:
            for number in range(1, args.rounds + 1):
                wait_for_idle_servers(deployment)
                plain = many_rooms(deployment, duration, round_=number, rate=args.rate)
                wait_for_idle_servers(deployment)
                rounds.append(
                    (plain, many_rooms(deployment, duration, mix=0.2, round_=number, rate=args.rate))
                )
        finally:
            deployment.stop()
    report_changes(rounds)


def run_search(args) -> None:
    rows, calls = (100_000, 50) if args.quick else (args.search_rows, 200)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as workdir:
        progress(f"starting ours on {args.database}: two server processes, one Redis")
        deployment = start_ours(Path(workdir))
        try:
            result = search_at_scale(deployment, rows, calls)
        finally:
            deployment.stop()
    report_search(result, args.database)


if __name__ == "__main__":
    main()
