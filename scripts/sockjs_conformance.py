"""Run the published SockJS protocol suite (github.com/sockjs/sockjs-protocol) against one node.

    make sockjs-conformance SUITE=/path/to/sockjs-protocol   (a checkout, or a bare git dir)

The suite is Python 2.7 and on no package registry, so CI runs our port of its checks instead
(tests/test_sockjs_protocol.py); this runs the original by hand. It installs the suite's own
dependencies for Python 2.7 (pyenv's 2.7.18) into a temporary directory, starts Redis and one
node with SOCKJS_CONFORMANCE=1, runs the suite and prints its result.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chat.testing.cluster import start_cluster  # noqa: E402

SUITE_FILES = ["sockjs-protocol.py", "utils.py", "httplib_fork.py"]
SUITE_DEPS = ["unittest2", "websocket-client<0.60", "ws4py<0.7"]


def python27() -> list[str]:
    if shutil.which("python2.7"):
        return ["python2.7"]
    raise SystemExit("Python 2.7 is needed (this machine image has it under pyenv: python2.7)")


def copy_suite(source: Path, target: Path) -> None:
    for name in SUITE_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)
        else:  # a bare git directory, as `fetch` leaves it
            blob = subprocess.run(
                ["git", "--git-dir", str(source), "show", f"HEAD:{name}"], check=True, capture_output=True
            ).stdout
            (target / name).write_bytes(blob)


def main() -> int:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    source = Path(sys.argv[1])
    work = Path(tempfile.mkdtemp(prefix="sockjs-conformance-"))
    env = {**os.environ, "PYENV_VERSION": "2.7.18"}
    try:
        copy_suite(source, work)
        subprocess.run(
            [*python27(), "-m", "pip", "install", "-q", "--target", str(work / "site"), *SUITE_DEPS],
            check=True,
            env=env,
        )
        cluster = start_cluster(work / "cluster", nodes=1, SOCKJS_CONFORMANCE="1")
        try:
            url = f"{cluster.nodes[0].http_url}/sockjs-conformance"
            result = subprocess.run(
                [*python27(), "sockjs-protocol.py", "-v", *sys.argv[2:]],
                cwd=work,
                env={**env, "PYTHONPATH": str(work / "site"), "SOCKJS_URL": url},
            )
        finally:
            cluster.stop()
        return result.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
