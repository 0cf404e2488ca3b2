"""Copy official EIBench files into a local pack folder, for users who have them.

The official data is licensed CC BY-NC 4.0 and is never shipped with eibench. Someone who has a
copy can turn it into a pack: ``<out>/<split>/<scene>.jsonl``, each record unchanged except for a
``language`` field added after ``title``, plus a ``pack.json`` that records where it came from and
asks the reader to keep upstream anchor quirks as warnings (as ``--official`` does). The folder
then works anywhere a pack does (``--pack <out>``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eibench.scenarios.loaders import PACK_MANIFEST, PACKS_DIR, official_dir
from eibench.scenarios.model import SCENES

__all__ = ["OFFICIAL_LICENCE", "ImportRefused", "ImportReport", "import_official"]

OFFICIAL_LICENCE = "CC BY-NC 4.0"
OFFICIAL_SOURCE = "EIBench (GitHub Tongyi-ConvAI/Qwen-Character, folder EIBench/), arXiv:2606.15532"


class ImportRefused(ValueError):
    """The import cannot be done (bad folder, would overwrite, would write into the package)."""


@dataclass
class ImportReport:
    """What was copied: records per output file, and lines copied through unparsed."""

    out: Path
    files: dict[str, int] = field(default_factory=dict)
    unparsed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.files.values())


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _with_language(record: dict[str, Any], language: str) -> dict[str, Any]:
    if "language" in record:
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        out[key] = value
        if key == "title":
            out["language"] = language
    if "language" not in out:
        out["language"] = language
    return out


def import_official(official: str | os.PathLike[str], out: str | os.PathLike[str], *,
                    language: str = "zh", force: bool = False) -> ImportReport:
    """Copy ``<official>/<split>/<scene>[_final].jsonl`` to ``<out>/<split>/<scene>.jsonl``.

    Args:
        official: the folder holding the official files.
        out: the pack folder to create.
        language: the ``language`` added to records that have none.
        force: overwrite files already in ``out``.

    Raises:
        ScenarioError: ``official`` is not a folder of official files.
        ImportRefused: ``out`` is inside the installed packs (the data must not be shipped), or
            would overwrite files without ``force``, or a file is not named after a scene.
    """
    source = official_dir(official)
    target = Path(out)
    if _inside(target, PACKS_DIR):
        raise ImportRefused(f"refusing to write into {PACKS_DIR}: the official data is "
                           f"{OFFICIAL_LICENCE} and must not be shipped as a pack; choose a "
                           "folder outside the package")
    if _inside(target, source):
        raise ImportRefused("the output folder must not be inside the official folder")
    plan: list[tuple[Path, Path]] = []
    for path in sorted(source.glob("*/*.jsonl")) + sorted(source.glob("*.jsonl")):
        split = path.parent.name if path.parent != source else "test"
        scene = path.stem.removesuffix("_final")
        if scene not in SCENES:
            raise ImportRefused(f"{path}: file name is not a scene ({', '.join(SCENES)}, "
                               "optionally with _final)")
        plan.append((path, target / split / f"{scene}.jsonl"))
    clashes = [str(dest) for _, dest in plan if dest.exists()]
    if (target / PACK_MANIFEST).exists():
        clashes.append(str(target / PACK_MANIFEST))
    if clashes and not force:
        raise ImportRefused("would overwrite " + ", ".join(clashes) + " (pass --force)")
    report = ImportReport(out=target)
    for src, dest in plan:
        lines = []
        count = 0
        for lineno, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                lines.append(line)  # copied through as it is; validation will name it
                report.unparsed.append(f"{src}:{lineno}")
                continue
            lines.append(json.dumps(_with_language(record, language), ensure_ascii=False))
            count += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report.files[str(dest.relative_to(target))] = count
    manifest = {"name": target.name, "origin": "official", "source": OFFICIAL_SOURCE,
                "licence": OFFICIAL_LICENCE, "language": language, "lenient_anchors": True,
                "note": "Imported with `eibench scenarios import`; not part of eibench and not "
                        "to be redistributed except under the licence above."}
    (target / PACK_MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                        encoding="utf-8")
    return report
