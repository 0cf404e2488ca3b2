"""Coverage of the taxonomy by a set of scenarios: themes and modifier values per scene, and the
scene proportions against the official test split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eibench.scenarios.model import SCENES, Scenario
from eibench.scenarios.taxonomy import (
    CHARM_INTENSITIES,
    INTENSITIES,
    MODIFIER_POOLS,
    OFFICIAL_TEST_COUNTS,
    THEMES,
)

__all__ = ["coverage", "modifier_values", "scene_proportions"]


def modifier_values(pool: str) -> tuple[str, ...]:
    """Every value of a modifier pool; intensity lists the shared scale, then charm's own."""
    if pool == "intensity":
        return INTENSITIES + CHARM_INTENSITIES
    return MODIFIER_POOLS[pool]


def coverage(scenarios: Sequence[Scenario]) -> dict[str, Any]:
    """Counts per theme (by scene and split) and per modifier value (by scene).

    Every taxonomy value is listed, with 0 where nothing covers it; values outside the taxonomy
    (from an unvalidated pack) are listed after them.

    Returns:
        ``{"themes": {scene: {theme: {split: n, ..., "total": n}}},
        "modifiers": {pool: {value: {scene: n, ..., "total": n}}},
        "unlabelled": {"theme": n, "modifiers": n}}``
    """
    splits = sorted({s.split for s in scenarios})
    themes: dict[str, dict[str, dict[str, int]]] = {
        scene: {t: {**dict.fromkeys(splits, 0), "total": 0} for t in THEMES[scene]}
        for scene in SCENES}
    modifiers: dict[str, dict[str, dict[str, int]]] = {
        pool: {v: {**dict.fromkeys(SCENES, 0), "total": 0} for v in modifier_values(pool)}
        for pool in MODIFIER_POOLS}
    unlabelled = {"theme": 0, "modifiers": 0}
    for s in scenarios:
        scene = s.scene.value
        if s.theme:
            row = themes[scene].setdefault(s.theme, {**dict.fromkeys(splits, 0), "total": 0})
            row[s.split] += 1
            row["total"] += 1
        else:
            unlabelled["theme"] += 1
        if not s.modifiers:
            unlabelled["modifiers"] += 1
        for pool, value in s.modifiers.items():
            table = modifiers.setdefault(pool, {})
            row = table.setdefault(value, {**dict.fromkeys(SCENES, 0), "total": 0})
            row[scene] += 1
            row["total"] += 1
    return {"themes": themes, "modifiers": modifiers, "unlabelled": unlabelled}


def scene_proportions(scenarios: Sequence[Scenario]) -> dict[str, dict[str, dict[str, float]]]:
    """Each split's share per scene beside the official test split's (46/64/52/51 of 213).

    Returns:
        ``{split: {scene: {"count": n, "share": f, "official_share": f}}}`` with an ``"all"``
        entry over every split; shares are fractions rounded to 4 places.
    """
    official_total = sum(OFFICIAL_TEST_COUNTS.values())
    groups: dict[str, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(s.split, []).append(s)
    if len(groups) != 1:
        groups["all"] = list(scenarios)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split, items in sorted(groups.items()):
        total = len(items)
        out[split] = {}
        for scene in SCENES:
            count = sum(1 for s in items if s.scene.value == scene)
            out[split][scene] = {
                "count": count,
                "share": round(count / total, 4) if total else 0.0,
                "official_share": round(OFFICIAL_TEST_COUNTS[scene] / official_total, 4)}
    return out
