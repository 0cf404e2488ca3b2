"""Conversion between the official EIBench JSONL record layout and :class:`Scenario`.

The project's packs use the same field names (plus ``language``), so one reader serves both.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from eibench.scenarios.model import Problem, Scenario

AGENT_OPEN_CUE = {
    "en": "Please open the conversation: be natural and tactful, neither fawning nor rude.",
    "zh": "请你来开启这段对话：自然一点、有分寸，不必讨好，也别冒犯对方。",
}

# Where each model field lives in the official record, for error messages.
FIELD_PATHS = {
    "id": "id",
    "title": "title",
    "scene": "scene_tag",
    "language": "language",
    "user_persona": "aggressor_profile.system_prompt",
    "opening_line": "aggressor_profile.opening_line",
    "agent_persona": "defender_profile.system_prompt",
    "start": "initial_calibration",
    "success": "rub_goals",
    "failure": "worst_case",
    "goal": "goal_one_liner",
    "success_criteria": "success_criteria",
    "must_avoid": "must_avoid",
    "worst_case_reason": "worst_case.reason",
}
_ANCHOR_KEYS = {
    "start": ("initial_calibration", "initial_anger", "initial_trust"),
    "success": ("rub_goals", "target_anger", "target_trust"),
    "failure": ("worst_case", "worst_anger_min", "worst_trust_min"),
}


def _get(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _official_path(loc: tuple[Any, ...]) -> str:
    head = str(loc[0]) if loc else ""
    if head in _ANCHOR_KEYS and len(loc) > 1:
        obj, anger_key, trust_key = _ANCHOR_KEYS[head]
        return f"{obj}.{anger_key if loc[1] == 'anger' else trust_key}"
    return FIELD_PATHS.get(head, head)


def record_to_fields(record: dict[str, Any], *, split: str, source: str) -> dict[str, Any]:
    """Map an official-layout record onto :class:`Scenario` field names (no validation)."""
    language = record.get("language") or "zh"
    opening = _get(record, "aggressor_profile.opening_line")
    agent_first = None
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users and not opening:
            agent_first = users[0]
    anchors = {}
    for name, (obj, anger_key, trust_key) in _ANCHOR_KEYS.items():
        block = record.get(obj)
        block = block if isinstance(block, dict) else {}
        anchors[name] = {"anger": block.get(anger_key), "trust": block.get(trust_key)}
    return {
        "id": record.get("id"),
        "split": split,
        "scene": record.get("scene_tag"),
        "language": language,
        "title": record.get("title") or "",
        "user_persona": _get(record, "aggressor_profile.system_prompt"),
        "opening_line": opening if opening else None,
        "agent_persona": _get(record, "defender_profile.system_prompt"),
        **anchors,
        "goal": record.get("goal_one_liner") or "",
        "success_criteria": tuple(record.get("success_criteria") or ()),
        "must_avoid": tuple(record.get("must_avoid") or ()),
        "worst_case_reason": _get(record, "worst_case.reason") or "",
        "agent_first_message": agent_first,
        "theme": record.get("theme") or "",
        "modifiers": record.get("modifiers") or {},
        "source": source,
    }


def parse_record(
    record: Any, *, split: str, source: str, strict: bool, file: str = "", line: int = 0
) -> tuple[Scenario | None, list[Problem]]:
    """Validate one record; return the scenario (or None) and every problem found.

    Problems name the official field path at fault, the scenario id, the file and the line.
    """
    if not isinstance(record, dict):
        return None, [Problem(severity="error", message="line is not a JSON object",
                              file=file, line=line)]
    sid = str(record.get("id") or "")
    fields = record_to_fields(record, split=split, source=source)
    try:
        scenario = Scenario.model_validate(fields, context={"strict": strict})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["loc"]:
                if err.get("input") is None:
                    msg = "missing"
                problems.append(Problem(severity="error", message=msg,
                                        field=_official_path(err["loc"]), scenario_id=sid,
                                        file=file, line=line))
                continue
            for part in msg.split("; "):
                name, sep, rest = part.partition(": ")
                problems.append(Problem(severity="error", message=rest if sep else part,
                                        field=FIELD_PATHS.get(name, name) if sep else "",
                                        scenario_id=sid, file=file, line=line))
        return None, problems
    warnings = [
        Problem(severity="warning", message=w.partition(": ")[2], field=w.partition(": ")[0],
                scenario_id=sid, file=file, line=line)
        for w in scenario.warnings
    ]
    return scenario, warnings


def scenario_to_record(scenario: Scenario) -> dict[str, Any]:
    """The official JSONL layout for ``scenario``, plus ``language``."""
    aggressor: dict[str, Any] = {"system_prompt": scenario.user_persona}
    if scenario.opening_line:
        aggressor["opening_line"] = scenario.opening_line
    first_user = scenario.opening_line or scenario.agent_first_message or AGENT_OPEN_CUE.get(
        scenario.language, AGENT_OPEN_CUE["en"])
    return {
        "id": scenario.id,
        "title": scenario.title,
        "language": scenario.language,
        "scene_tag": scenario.scene.value,
        "aggressor_profile": aggressor,
        "defender_profile": {"system_prompt": scenario.agent_persona},
        "goal_one_liner": scenario.goal,
        "success_criteria": list(scenario.success_criteria),
        "must_avoid": list(scenario.must_avoid),
        "initial_calibration": {"initial_anger": scenario.start.anger,
                                "initial_trust": scenario.start.trust},
        "rub_goals": {"target_anger": scenario.success.anger,
                      "target_trust": scenario.success.trust},
        "worst_case": {"worst_anger_min": scenario.failure.anger,
                       "worst_trust_min": scenario.failure.trust,
                       "reason": scenario.worst_case_reason},
        "prompt": [{"role": "system", "content": scenario.agent_persona},
                   {"role": "user", "content": first_user}],
        "data_source": scenario.scene.value,
        **({"theme": scenario.theme} if scenario.theme else {}),
        **({"modifiers": dict(scenario.modifiers)} if scenario.modifiers else {}),
    }

