"""Write the per-id writing plans (theme + modifiers) that the pack writers follow.

The plans are deterministic, so coverage of themes and modifier pools stays even across
sessions: python tools/pack_writing/plan.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eibench.scenarios.taxonomy import PERSONALITIES, PLACES, RELATIONSHIPS, THEMES, intensity_pool

SPLITS = {
    # prefix: (scene counts, offset that decorrelates the cycles between splits)
    "en_test": ({"support": 51, "defense": 64, "repair": 52, "charm": 46}, None),
    "zh_test": ({"support": 25, "defense": 32, "repair": 25, "charm": 22}, 1),
    "en_train": ({"support": 481, "defense": 604, "repair": 490, "charm": 434}, 3),
}


def plan(prefix: str, scene: str, n: int, off: int | None) -> list[dict[str, str]]:
    themes, ints = THEMES[scene], intensity_pool(scene)
    if off is None:  # the en test split's original cycle
        return [{"id": f"{prefix}_{scene}_{i + 1:03d}", "theme": themes[i % len(themes)],
                 "relationship": RELATIONSHIPS[(i * 3) % 7],
                 "place": PLACES[(i * 5 + len(scene)) % 11], "intensity": ints[(i * 3 + 1) % 8],
                 "personality": PERSONALITIES[(i * 7 + 2) % 10]} for i in range(n)]
    return [{"id": f"{prefix}_{scene}_{i + 1:03d}", "theme": themes[(i + off) % len(themes)],
             "relationship": RELATIONSHIPS[(i * 3 + off) % 7],
             "place": PLACES[(i * 5 + off + 2) % 11], "intensity": ints[(i * 3 + off) % 8],
             "personality": PERSONALITIES[(i * 7 + off + 5) % 10]} for i in range(n)]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "plans")
    out.mkdir(parents=True, exist_ok=True)
    for prefix, (counts, off) in SPLITS.items():
        for scene, n in counts.items():
            path = out / f"plan_{prefix}_{scene}.json"
            path.write_text(json.dumps(plan(prefix, scene, n, off), indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
