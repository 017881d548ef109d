"""The house plan (docs/architecture.md): imports in chat/ point down only, checked by import-linter."""

import shutil
import subprocess
import sys
from pathlib import Path

from chat.devcluster import BASE_DIR

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_import_in_chat_points_down():
    result = _lint_imports(BASE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_domain_module_importing_a_transport_breaks_the_contract(tmp_path):
    shutil.copytree(
        BASE_DIR / "chat", tmp_path / "chat", ignore=shutil.ignore_patterns("__pycache__", "static")
    )
    shutil.copy(BASE_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    services = tmp_path / "chat" / "domain" / "services.py"
    services.write_text(services.read_text() + "\nfrom chat.transports import websocket  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "chat.domain.services -> chat.transports.websocket" in result.stdout


def test_plumbing_importing_a_rule_breaks_the_contract(tmp_path):
    shutil.copytree(
        BASE_DIR / "chat", tmp_path / "chat", ignore=shutil.ignore_patterns("__pycache__", "static")
    )
    shutil.copy(BASE_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    layer = tmp_path / "chat" / "realtime" / "presence.py"
    layer.write_text(layer.read_text() + "\nfrom chat.domain import selectors  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "chat.realtime.presence -> chat.domain.selectors" in result.stdout
