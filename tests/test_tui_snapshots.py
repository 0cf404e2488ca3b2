"""Snapshots of the three main screens at 120x36 on a deterministic store.

Regenerate after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the report before accepting it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eibench.tui.app import EIBenchApp

from tui_data import build_demo_store

SIZE = (120, 36)


@pytest.fixture
def app(tmp_path: Path) -> EIBenchApp:
    return EIBenchApp(build_demo_store(tmp_path / "demo.db"))


def test_runs_screen(snap_compare, app: EIBenchApp) -> None:
    assert snap_compare(app, terminal_size=SIZE)


def test_episodes_screen(snap_compare, app: EIBenchApp) -> None:
    assert snap_compare(app, press=["enter"], terminal_size=SIZE)


def test_dialogue_screen_with_think_and_reflection(snap_compare, app: EIBenchApp) -> None:
    assert snap_compare(app, press=["enter", "enter", "t", "r"], terminal_size=SIZE)
