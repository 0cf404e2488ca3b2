"""Validation over whole sources: per-record problems plus checks across records and files."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from eibench.scenarios.loaders import LoadResult, read_official, read_pack
from eibench.scenarios.model import Problem, Scenario

#: Checks over a whole source, run after every record was read (the quality gates plug in here).
SourceCheck = Callable[[list[Scenario]], list[Problem]]


def duplicate_ids(scenarios: list[Scenario]) -> list[Problem]:
    """The same id in two files (within one file the reader already reports it)."""
    counts = Counter(s.id for s in scenarios)
    return [Problem(severity="error", field="id", scenario_id=sid,
                    message=f"id used {n} times across the source")
            for sid, n in counts.items() if n > 1]


def split_separation(scenarios: list[Scenario]) -> list[Problem]:
    """A scenario text that appears in two splits leaks the test set into training."""
    seen: dict[str, Scenario] = {}
    problems = []
    for s in scenarios:
        key = s.user_persona.strip()
        other = seen.get(key)
        if other is not None and other.split != s.split:
            problems.append(Problem(severity="error", field="aggressor_profile.system_prompt",
                                    scenario_id=s.id,
                                    message=f"same user persona as {other.id} in split "
                                            f"{other.split!r}: train/test must be separate"))
        seen.setdefault(key, s)
    return problems


DEFAULT_CHECKS: list[SourceCheck] = [duplicate_ids, split_separation]


def validate(*, pack: str | None = None, official: str | os.PathLike[str] | None = None,
             split: str | None = None, scene: str | None = None,
             checks: list[SourceCheck] | None = None) -> LoadResult:
    """Read a source and run every check; the result lists all problems found."""
    result = (read_official(official, split=split, scene=scene) if official
              else read_pack(pack or "", split=split, scene=scene))
    for check in DEFAULT_CHECKS if checks is None else checks:
        result.problems.extend(check(result.scenarios))
    return result
