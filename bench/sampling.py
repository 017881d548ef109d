"""CPU and RSS sampling from /proc: per process, for the whole machine, and waiting for quiet."""

import os
import time
from pathlib import Path

from bench.servers import Deployment

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processes of this machine have used (every core), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def wait_for_quiet(deployment: Deployment, *, limit: float = 60, cores: float = 0.15) -> float:
    """Wait (at most `limit` seconds) until other processes use under `cores` of this machine
    over 2 s, so that a step does not start in someone else's CPU burst; returns the seconds
    waited. Interference during a step still shows in its `other_cpu`."""
    ours = [*deployment.pids, *([deployment.extra["redis_pid"]] if "redis_pid" in deployment.extra else [])]
    started = time.monotonic()
    while True:
        machine, mine = machine_busy_seconds(), sum(cpu_seconds(pid) for pid in ours)
        time.sleep(2)
        other = (machine_busy_seconds() - machine) - (sum(cpu_seconds(pid) for pid in ours) - mine)
        waited = time.monotonic() - started
        if other / 2 < cores or waited >= limit:
            return waited


def wait_for_idle_servers(deployment: Deployment, *, limit: float = 30, cores: float = 0.05) -> float:
    """Wait (at most `limit` seconds) until the design's own processes are idle, so that a scenario
    does not start while the servers still work off the previous one's backlog (a fan-out step past
    capacity leaves seconds of queued deliveries)."""
    started = time.monotonic()
    while True:
        before = sum(cpu_seconds(pid) for pid in deployment.pids)
        time.sleep(1)
        busy = sum(cpu_seconds(pid) for pid in deployment.pids) - before
        waited = time.monotonic() - started
        if busy < cores or waited >= limit:
            return waited
