"""Where an idle node's CPU goes: the idle-scale step (bench/scenarios.py, idle_memory) on a fresh
deployment of ours, with py-spy sampling node 0 during the step's idle window.

    .venv/bin/python bench/idle_profile.py [--connections 15000] [--native] [--out bench/results/idle.txt]

py-spy is not a dependency of the project: install it where you like (`pip install py-spy`) and put it
on PATH, or pass --py-spy. The output is py-spy's raw format (one stack per line, then its sample count);
`--native` adds C frames (a full garbage collection shows as `gc_collect_main`). Prints the step's own
result (RSS per connection, idle CPU) as `bench/run.py --scenarios connections` measures it.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios  # noqa: E402
from bench.common import RESULTS  # noqa: E402
from bench.servers import start_ours  # noqa: E402

IDLE_WINDOW = 40  # seconds the step reads the node's CPU over; py-spy samples 25 of them


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=15_000)
    parser.add_argument("--native", action="store_true", help="py-spy --native: C frames too")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--out", type=Path, default=RESULTS / "idle-profile.txt")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rooms = 500 if args.connections >= 5000 else 100

    with tempfile.TemporaryDirectory(prefix="bench-ours-") as workdir:
        deployment = start_ours(Path(workdir))
        try:
            window_opened = threading.Event()
            sleep = time.sleep

            def sleep_and_mark(seconds: float) -> None:
                if seconds == IDLE_WINDOW:  # idle_memory's window begins
                    window_opened.set()
                sleep(seconds)

            def sample() -> None:
                window_opened.wait()
                command = [args.py_spy, "record", "-p", str(deployment.pids[0]), "-d", "25", "-r", "50"]
                command += ["-f", "raw", "-o", str(args.out)] + (["--native"] if args.native else [])
                subprocess.run(command, check=False)

            # idle_memory has no hook for its window: its time.sleep(IDLE_WINDOW) marks it (the
            # process-wide time.sleep, put back below).
            scenarios.time.sleep = sleep_and_mark
            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                result = scenarios.idle_memory(
                    deployment, args.connections, rooms, one_node=True, idle_window=IDLE_WINDOW
                )
            finally:
                scenarios.time.sleep = sleep
                window_opened.set()
                sampler.join()
            print(result)
            print(f"profile: {args.out}")
        finally:
            deployment.stop()


if __name__ == "__main__":
    main()
