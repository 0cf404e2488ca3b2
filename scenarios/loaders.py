"""Read scenarios from the project's packs and from official EIBench files.

Both use the official JSONL layout: ``<root>/<split>/<scene>[_final].jsonl``, one object per line.
Readers never raise on bad data: they return the scenarios they could read and every problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eibench.scenarios.model import SCENES, Problem, Scenario
from eibench.scenarios.official import parse_record

PACKS_DIR = Path(__file__).parent / "packs"
OFFICIAL_ENV = "EIBENCH_OFFICIAL_DIR"
DEFAULT_PACK = "starter"
#: Optional file at a pack's root describing it, e.g. ``{"origin": "official",
#: "lenient_anchors": true}`` for a folder made by ``eibench scenarios import``.
PACK_MANIFEST = "pack.json"


class ScenarioError(Exception):
    """Raised when scenarios cannot be loaded for use (not for validation reports)."""


@dataclass
class LoadResult:
    """What a reader found: the valid scenarios and every problem, in file order."""

    scenarios: list[Scenario] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def extend(self, other: LoadResult) -> None:
        self.scenarios.extend(other.scenarios)
        self.problems.extend(other.problems)
        self.files.extend(other.files)


def read_jsonl(path: Path, *, split: str, source: str, strict: bool) -> LoadResult:
    """Read one JSONL file of scenario records, collecting problems line by line."""
    result = LoadResult(files=[path])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(Problem(severity="error", message=f"cannot read file: {exc}",
                                       file=str(path)))
        return result
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(severity="error", file=str(path), line=lineno,
                                           message=f"malformed JSON ({exc.msg} at column {exc.colno})"))
            continue
        scenario, problems = parse_record(record, split=split, source=source, strict=strict,
                                          file=str(path), line=lineno)
        result.problems.extend(problems)
        if scenario is None:
            continue
        if scenario.id in seen:
            result.problems.append(Problem(severity="error", message="duplicate id in file",
                                           field="id", scenario_id=scenario.id, file=str(path),
                                           line=lineno))
            continue
        seen.add(scenario.id)
        result.scenarios.append(scenario)
    return result


def _scene_of(path: Path) -> str | None:
    stem = path.stem.removesuffix("_final")
    return stem if stem in SCENES else None


def _jsonl_files(root: Path) -> list[tuple[str, Path]]:
    """(split, file) pairs under ``root``: ``root/<split>/*.jsonl``, or ``root/*.jsonl`` as test."""
    found: list[tuple[str, Path]] = []
    for path in sorted(root.glob("*/*.jsonl")):
        found.append((path.parent.name, path))
    for path in sorted(root.glob("*.jsonl")):
        found.append(("test", path))
    return found


def _read_tree(root: Path, *, source: str, strict: bool, split: str | None,
               scene: str | None) -> LoadResult:
    result = LoadResult()
    for file_split, path in _jsonl_files(root):
        if split and file_split != split:
            continue
        file_scene = _scene_of(path)
        if scene and file_scene and file_scene != scene:
            continue
        part = read_jsonl(path, split=file_split, source=source, strict=strict)
        if scene:
            part.scenarios = [s for s in part.scenarios if s.scene.value == scene]
        result.extend(part)
    return result


def available_packs() -> list[str]:
    """Names of the packs shipped with eibench."""
    if not PACKS_DIR.is_dir():
        return []
    return sorted(p.name for p in PACKS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


def pack_root(pack: str) -> Path:
    """The folder of a shipped pack by name, or a pack folder given as a path."""
    candidate = Path(pack)
    if candidate.is_dir():
        return candidate
    root = PACKS_DIR / pack
    if not root.is_dir():
        raise ScenarioError(f"unknown pack {pack!r}: shipped packs are {', '.join(available_packs())}"
                            " (or pass a folder laid out as <split>/<scene>.jsonl)")
    return root


def pack_manifest(root: Path) -> dict[str, Any]:
    """The pack's ``pack.json`` as a dict (empty when the pack has none)."""
    path = root / PACK_MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"cannot read pack manifest {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"pack manifest {str(path)!r} must hold a JSON object")
    return data


def read_pack(pack: str, *, split: str | None = None, scene: str | None = None) -> LoadResult:
    """Read a project pack; anchor findings are errors (our own data must be clean).

    A pack whose ``pack.json`` sets ``"lenient_anchors": true`` (the official files imported
    with ``eibench scenarios import``) keeps upstream anchor quirks as warnings instead.
    """
    root = pack_root(pack)
    name = pack if root.parent == PACKS_DIR else str(root)
    strict = not pack_manifest(root).get("lenient_anchors", False)
    return _read_tree(root, source=f"pack:{name}", strict=strict, split=split, scene=scene)


def official_dir(directory: str | os.PathLike[str] | None) -> Path:
    """Resolve the official data folder from the argument or ``EIBENCH_OFFICIAL_DIR``."""
    value = directory or os.environ.get(OFFICIAL_ENV)
    if not value:
        raise ScenarioError(f"no official data folder: pass --official DIR or set {OFFICIAL_ENV}")
    path = Path(value)
    if not path.is_dir():
        raise ScenarioError(f"official data folder {str(path)!r} does not exist")
    if not _jsonl_files(path):
        raise ScenarioError(f"official data folder {str(path)!r} holds no <split>/*.jsonl files")
    return path


def read_official(directory: str | os.PathLike[str] | None, *, split: str | None = None,
                  scene: str | None = None) -> LoadResult:
    """Read the official EIBench files, unchanged; upstream anchor quirks become warnings."""
    root = official_dir(directory)
    return _read_tree(root, source="official", strict=False, split=split, scene=scene)


def load_scenarios(*, pack: str | None = None, official: str | os.PathLike[str] | None = None,
                   split: str | None = None, scene: str | None = None,
                   ids: Iterable[str] | None = None, limit: int | None = None,
                   balanced: bool = False) -> list[Scenario]:
    """Load scenarios for use (runs, the server, training); raise :class:`ScenarioError` on errors.

    With ``balanced=True`` and a ``limit``, the scenarios are taken round-robin across scenes so a
    small subset still covers all four.
    """
    if pack and official:
        raise ScenarioError("choose one source: --pack or --official, not both")
    result = (read_official(official, split=split, scene=scene) if official
              else read_pack(pack or DEFAULT_PACK, split=split, scene=scene))
    if result.errors:
        shown = "\n  ".join(p.render() for p in result.errors[:10])
        more = f"\n  ... and {len(result.errors) - 10} more" if len(result.errors) > 10 else ""
        raise ScenarioError(f"{len(result.errors)} problem(s) in the scenario data "
                            f"(run `eibench scenarios validate`):\n  {shown}{more}")
    scenarios = result.scenarios
    if ids is not None:
        wanted = list(ids)
        by_id = {s.id: s for s in scenarios}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise ScenarioError(f"unknown scenario id(s): {', '.join(missing)}")
        scenarios = [by_id[i] for i in wanted]
    if limit is not None and limit < len(scenarios):
        scenarios = balanced_subset(scenarios, limit) if balanced else scenarios[:limit]
    return scenarios


def balanced_subset(scenarios: list[Scenario], n: int) -> list[Scenario]:
    """Take ``n`` scenarios round-robin over scenes, keeping each scene's file order."""
    by_scene: dict[str, list[Scenario]] = {}
    for s in scenarios:
        by_scene.setdefault(s.scene.value, []).append(s)
    queues = [by_scene[k] for k in SCENES if k in by_scene]
    picked: list[Scenario] = []
    i = 0
    while len(picked) < n and any(queues):
        queue = queues[i % len(queues)]
        if queue:
            picked.append(queue.pop(0))
        i += 1
    return picked
