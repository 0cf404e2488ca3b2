"""Fold writers' part files (``<scene>_p<NNN>.jsonl``) into ``<scene>.jsonl``, ordered by id.

Several writers work on one scene at once, each appending to its own part file in the split
folder; this merges them once they stop. It refuses to merge when an id appears twice or a line
is not JSON, and only deletes a part file after the merged file is written.

    python tools/pack_writing/merge.py scenarios/packs/en/train
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

PART = re.compile(r"^(?P<scene>[a-z]+)_p\d+$")


def _number(record_id: str) -> int:
    return int(record_id.rsplit("_", 1)[1])


def merge(folder: Path) -> dict[str, int]:
    """Merge every part file under ``folder``; returns the record count of each merged scene."""
    parts: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*_p*.jsonl")):
        match = PART.match(path.stem)
        if match:
            parts.setdefault(match["scene"], []).append(path)
    counts: dict[str, int] = {}
    for scene, files in parts.items():
        main = folder / f"{scene}.jsonl"
        records: dict[str, str] = {}
        for path in ([main] if main.exists() else []) + files:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record_id = json.loads(line)["id"]
                except (ValueError, KeyError) as exc:
                    raise SystemExit(f"{path}:{n}: not a scenario record ({exc})") from exc
                if record_id in records:
                    raise SystemExit(f"{path}:{n}: id {record_id} appears twice")
                records[record_id] = line
        ordered = sorted(records, key=_number)
        tmp = main.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(records[i] + "\n" for i in ordered), encoding="utf-8")
        tmp.replace(main)
        for path in files:
            path.unlink()
        counts[scene] = len(ordered)
    return counts


if __name__ == "__main__":
    for scene, count in merge(Path(sys.argv[1])).items():
        print(f"{scene}: {count} records")
