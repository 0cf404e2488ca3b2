"""Packaging: the core imports without extras, every command has --help, the wheel is complete."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from eibench.cli.main import COMMANDS, cli

REPO = Path(__file__).resolve().parent.parent

BLOCKER = """
import sys, importlib.abc
BLOCKED = {"torch", "trl", "textual", "llama_cpp", "transformers", "peft", "vllm", "accelerate",
           "datasets"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Block())
"""


def test_core_imports_without_extras():
    code = BLOCKER + (
        "import eibench.scenarios, eibench.simulator, eibench.harness\n"
        "import eibench.harness.runner, eibench.harness.report, eibench.harness.store\n"
        "import eibench.simulator.backends, eibench.cli.main\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _all_commands(group, prefix=()):
    ctx = group.make_context("eibench", [], resilient_parsing=True)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield (*prefix, name), cmd
        if hasattr(cmd, "list_commands"):
            yield from _all_commands(cmd, (*prefix, name))


def test_every_command_has_help():
    runner = CliRunner()
    seen = []
    for path, _ in _all_commands(cli):
        out = runner.invoke(cli, [*path, "--help"])
        assert out.exit_code == 0, (path, out.output)
        assert "Usage:" in out.output
        seen.append(path[0])
    present = [c for c in COMMANDS if c in seen]
    assert {"scenarios", "run", "report"} <= set(present)


@pytest.mark.slow
def test_wheel_contains_every_module(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(REPO)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("eibench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    mapping = {"eibench": REPO / "eibench", "eibench/scenarios": REPO / "scenarios",
               "eibench/simulator": REPO / "simulator", "eibench/harness": REPO / "harness",
               "eibench/server": REPO / "server", "eibench/tui": REPO / "tui",
               "eibench/train": REPO / "train"}
    missing = []
    for prefix, folder in mapping.items():
        for py in folder.rglob("*.py"):
            rel = py.relative_to(folder).as_posix()
            if prefix == "eibench" and "/" in rel and not rel.startswith("cli/"):
                continue
            if f"{prefix}/{rel}" not in names:
                missing.append(f"{prefix}/{rel}")
        for data in [p for ext in ("jsonl", "j2", "tcss", "json", "yaml")
                     for p in folder.rglob(f"*.{ext}")]:
            rel = data.relative_to(folder).as_posix()
            if f"{prefix}/{rel}" not in names:
                missing.append(f"{prefix}/{rel}")
    assert not missing, missing
