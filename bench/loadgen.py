"""Driving the Node load generator (bench/loadgen.mjs) on a plan, sampling the servers around it."""

import json
import subprocess
import tempfile
import threading
from pathlib import Path

from bench.common import BASE_DIR, RESULTS
from bench.sampling import cpu_seconds, machine_busy_seconds, rss_kib
from bench.servers import Deployment


def start_loadgen(plan: dict) -> subprocess.Popen:
    """Start the Node load generator on a plan (passed as a file: it can be large). A plan with
    `hold` keeps its sockets open, after a `{"connected": n}` line, until its stdin is closed."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=RESULTS) as file:
        json.dump(plan, file)
    process = subprocess.Popen(
        ["node", str(BASE_DIR / "bench" / "loadgen.mjs"), file.name],
        stdin=subprocess.PIPE if plan.get("hold") else None,
        stdout=subprocess.PIPE,
        text=True,
    )
    # The load generator reads its plan at start; remove the file once it has.
    threading.Timer(10, Path(file.name).unlink, kwargs={"missing_ok": True}).start()
    return process


def wait_connected(process: subprocess.Popen) -> int:
    """Read a holding load generator's output up to its `{"connected": n}` line; returns n."""
    for line in process.stdout:
        if line.startswith('{"connected"'):
            return json.loads(line)["connected"]
    raise RuntimeError(f"load generator ended ({process.wait()}) before it had connected")


def run_loadgen(deployment: Deployment, plan: dict, *, on_line=None, pids: list[int] | None = None) -> dict:
    """Run one load-generator plan; returns its result plus the servers' CPU seconds and RSS (of
    `pids`: the design's processes unless given). `on_line` sees every line the generator prints."""
    pids = deployment.pids if pids is None else pids
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    redis_pid = deployment.extra.get("redis_pid")
    redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
    machine_before = machine_busy_seconds()
    process = start_loadgen(plan)
    # The servers' CPU is also read when the load generator starts sending and when it has drained:
    # CPU per delivery counts that phase only, not connecting and subscribing 200 sockets (a cost
    # per connection, which the whole-step figure `server_cpu` still includes).
    phases: dict[str, float] = {}
    timer = threading.Timer(plan["duration"] + plan["drain"] + plan.get("settle", 0) + 120, process.kill)
    timer.start()
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith('{"phase"'):
                phases[json.loads(line)["phase"]] = sum(cpu_seconds(pid) for pid in pids)
            if on_line is not None:
                on_line(line)
        process.wait()
    finally:
        timer.cancel()
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed ({process.returncode}): {''.join(lines)[-2000:]}")
    result = json.loads(lines[-1])
    result["server_cpu"] = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    if {"sending", "drained"} <= phases.keys():
        result["server_cpu_sending"] = phases["drained"] - phases["sending"]
    if {"connecting", "connected"} <= phases.keys():
        result["server_cpu_connecting"] = phases["connected"] - phases["connecting"]
    result["loadgen_core"] = loadgen_core(result)
    result["server_rss_kib"] = sum(rss_kib(pid) for pid in pids)
    # Everything else that ran on the machine meanwhile (this script, other work): noise to report.
    redis_cpu = cpu_seconds(redis_pid) - redis_before if redis_pid else 0.0
    result["other_cpu"] = machine_busy_seconds() - machine_before - result["server_cpu"] - redis_cpu
    result["other_cpu"] -= result["loadgen_cpu"]
    return result


# A step whose load generator used more than this share of a core while it sent and drained is
# marked not comparable: past it the client's own queueing shows in the latencies, not the server's.
LOADGEN_CORE_LIMIT = 0.7


def loadgen_core(result: dict) -> float:
    """The share of one core the load generator used while it sent and drained."""
    cpu = result.get("loadgen_cpu_sending", result["loadgen_cpu"])
    return cpu / max(result["wall"], 1e-3)


def comparable(result: dict) -> bool:
    return loadgen_core(result) <= LOADGEN_CORE_LIMIT
