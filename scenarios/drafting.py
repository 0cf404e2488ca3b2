"""The pieces of one generation attempt: prompts, answer parsing, anchor settling.

Used by :mod:`eibench.scenarios.generate`; kept apart so each piece can be read and tested alone.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from eibench.scenarios.model import Anchor, Scenario
from eibench.scenarios.taxonomy import MODIFIER_POOLS, SUCCESS_RANGES, THEMES, intensity_pool

__all__ = [
    "ANCHORS_SCHEMA",
    "LANGUAGE_NAMES",
    "LENGTH_TARGETS",
    "PERSONAS_SCHEMA",
    "SCENE_GUIDE",
    "WORST_SCHEMA",
    "GenerationError",
    "Prompts",
    "StageError",
    "as_int",
    "as_list",
    "as_text",
    "clamp",
    "example_text",
    "extract_json",
    "sample_choices",
    "scenario_text",
    "settle_anchors",
]

LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese"}
#: Persona lengths the prompts ask for (words, or characters for Chinese): inside the quality
#: gates' bounds, so a model that overshoots a little still passes.
LENGTH_TARGETS: dict[str, dict[str, tuple[int, int]]] = {
    "en": {"user": (300, 450), "agent": (120, 220)},
    "zh": {"user": (600, 1000), "agent": (200, 450)},
}

#: What each scene asks of the agent and how the simulated person plays it (restated from the
#: benchmark description, in our words).
SCENE_GUIDE: dict[str, dict[str, str]] = {
    "support": {
        "task": "the agent comforts someone in distress (grief, failure, anxiety, loneliness, "
                "burnout, venting, a hard life decision).",
        "user": "closed at first; generic comfort does nothing; opens up only after several "
                "concrete, specific turns in a row.",
        "anger": "sadness or despair", "trust": "feeling safe and understood"},
    "defense": {
        "task": "the agent de-escalates a confrontation while keeping a legitimate boundary "
                "(unreasonable demands, blame, threats, guilt-tripping, control, provocation, "
                "a hard sell).",
        "user": "tough: makes firm demands and punishes empty talk, deflection and caving.",
        "anger": "anger or resentment", "trust": "belief in what the agent says"},
    "repair": {
        "task": "the agent mends trust after its own character let the person down (a gap at "
                "work, neglect, a social misstep, a broken promise, a service failure).",
        "user": "picky: wants a concrete admission, the cause, and how it will not happen again.",
        "anger": "anger or resentment", "trust": "willingness to forgive"},
    "charm": {
        "task": "the agent builds rapport with someone in a first or low-stakes meeting "
                "(ice-breaking, flirting, deepening a connection, professional charm, romance); "
                "the agent speaks first.",
        "user": "high standards: tests the agent with topic switches, challenges and coldness.",
        "anger": "aversion or annoyance", "trust": "interest and attraction"},
}

_STR = {"type": "string"}
PERSONAS_SCHEMA: dict[str, Any] = {
    "title": "personas",
    "type": "object",
    "properties": {
        "title": _STR, "user_persona": _STR,
        "opening_line": {"type": ["string", "null"]}, "agent_persona": _STR,
        "goal_one_liner": _STR,
        "success_criteria": {"type": "array", "items": _STR},
        "must_avoid": {"type": "array", "items": _STR},
    },
    "required": ["title", "user_persona", "opening_line", "agent_persona", "goal_one_liner",
                 "success_criteria", "must_avoid"],
    "additionalProperties": False,
}
ANCHORS_SCHEMA: dict[str, Any] = {
    "title": "anchors",
    "type": "object",
    "properties": {"reasoning": _STR, "initial_anger": {"type": "integer"},
                   "initial_trust": {"type": "integer"}, "target_anger": {"type": "integer"},
                   "target_trust": {"type": "integer"}},
    "required": ["reasoning", "initial_anger", "initial_trust", "target_anger", "target_trust"],
    "additionalProperties": False,
}
WORST_SCHEMA: dict[str, Any] = {
    "title": "worst_case",
    "type": "object",
    "properties": {"worst_anger_min": {"type": "integer"}, "worst_trust_min": {"type": "integer"},
                   "reason": _STR},
    "required": ["worst_anger_min", "worst_trust_min", "reason"],
    "additionalProperties": False,
}

_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_THINK_RE = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)


class GenerationError(Exception):
    """The generator cannot start or cannot go on (bad options, no examples, backend down)."""


class StageError(Exception):
    """One attempt failed at a stage; the attempt becomes a reject.

    Attributes:
        stage: personas, anchors, worst_case, validate or backend.
        reasons: what went wrong, each naming the field at fault where there is one.
        record: the drafted record, when the attempt got that far.
    """

    def __init__(self, stage: str, reasons: list[str], *,
                 record: dict[str, Any] | None = None) -> None:
        super().__init__("; ".join(reasons))
        self.stage = stage
        self.reasons = reasons
        self.record = record


# --- pieces ----------------------------------------------------------------------------------

def sample_choices(rng: random.Random, scene: str) -> tuple[str, dict[str, str]]:
    """A theme of the scene and one value from each modifier pool (charm's own intensities)."""
    theme = rng.choice(THEMES[scene])
    modifiers = {pool: rng.choice(intensity_pool(scene) if pool == "intensity" else values)
                 for pool, values in MODIFIER_POOLS.items()}
    return theme, modifiers


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in a model answer: bare, fenced, or after a reasoning block or preamble.

    Raises:
        ValueError: no JSON object could be read, naming what was found instead.
    """
    cleaned = _THINK_RE.sub("", text).strip()
    candidates = [m.group(1) for m in _FENCE_RE.finditer(cleaned)] + [cleaned]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                obj, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj
            start = candidate.find("{", start + 1)
    preview = cleaned[:80].replace("\n", " ")
    raise ValueError(f"no JSON object in the answer (starts {preview!r})" if cleaned
                     else "empty answer")


def as_int(obj: Mapping[str, Any], key: str, problems: list[str]) -> int:
    value = obj.get(key)
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            value = None
    if not isinstance(value, int | float) or value != value:
        problems.append(f"{key}: expected a number, got {obj.get(key)!r}")
        return 0
    return round(value)


def as_text(obj: Mapping[str, Any], key: str, problems: list[str], *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{key}: expected a non-empty string, got {value!r:.60}")
        return ""
    return value.strip()


def as_list(obj: Mapping[str, Any], key: str, problems: list[str]) -> list[str]:
    value = obj.get(key)
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key}: expected a list of strings, got {value!r:.60}")
        return []
    return [v.strip() for v in value if v.strip()]


def _round5(value: int) -> int:
    return int(5 * round(value / 5))


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def settle_anchors(scene: str, start: Anchor | tuple[int, int], success: Anchor | tuple[int, int],
                   failure: Anchor | tuple[int, int]) -> tuple[Anchor, Anchor, Anchor, list[str]]:
    """Round anchors to multiples of 5 and force them into the orderings and the success range.

    Success is clamped into the scene's range first; then start is kept strictly between success
    and failure (anger: success < start < failure; trust: failure < start < success), moving
    start before failure. Values stay in [0, 100].

    Returns:
        (start, success, failure, adjustments): each adjustment says what changed and why.
    """
    def pair(point: Anchor | tuple[int, int]) -> tuple[int, int]:
        return (point.anger, point.trust) if isinstance(point, Anchor) else point

    (a0, t0), (a1, t1), (a2, t2) = pair(start), pair(success), pair(failure)
    (a_lo, a_hi), (t_lo, t_hi) = SUCCESS_RANGES[scene]
    notes: list[str] = []

    def fix(name: str, value: int, low: int, high: int, why: str) -> int:
        rounded = clamp(_round5(value), 0, 100)
        if rounded != value:
            notes.append(f"{name}: {value} rounded to {rounded}")
        fixed = clamp(rounded, low, high)
        if fixed != rounded:
            notes.append(f"{name}: {rounded} moved to {fixed} ({why})")
        return fixed

    a1 = fix("success.anger", a1, a_lo, a_hi, f"{scene} success range {a_lo}-{a_hi}")
    t1 = fix("success.trust", t1, t_lo, t_hi, f"{scene} success range {t_lo}-{t_hi}")
    a0 = fix("start.anger", a0, a1 + 5, 95, "must be above success and below failure")
    t0 = fix("start.trust", t0, 5, t1 - 5, "must be below success and above failure")
    a2 = fix("failure.anger", a2, a0 + 5, 100, "must be above start")
    t2 = fix("failure.trust", t2, 0, t0 - 5, "must be below start")
    return Anchor(anger=a0, trust=t0), Anchor(anger=a1, trust=t1), \
        Anchor(anger=a2, trust=t2), notes


# --- prompts ---------------------------------------------------------------------------------

class Prompts:
    """The generator's jinja2 template (built in, or a user file)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            source = resources.files("eibench.scenarios").joinpath(
                "prompts/generate.j2").read_text(encoding="utf-8")
            self.origin = "built-in"
        else:
            try:
                source = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise GenerationError(f"cannot read prompt template {str(path)!r}: {exc}") from exc
            self.origin = str(path)
        env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                                   lstrip_blocks=True, autoescape=False)
        try:
            self.template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise GenerationError(f"prompt template {self.origin}: line {exc.lineno}: "
                                  f"{exc.message}") from exc

    def render(self, part: str, **values: Any) -> str:
        try:
            text = self.template.render(part=part, **values).strip()
        except jinja2.TemplateError as exc:
            raise GenerationError(f"prompt template {self.origin}, part {part!r}: {exc}") from exc
        if not text:
            raise GenerationError(f"prompt template {self.origin} renders nothing for {part!r}")
        return text


def example_text(s: Scenario) -> str:
    return json.dumps({"title": s.title, "user_persona": s.user_persona,
                       "opening_line": s.opening_line, "agent_persona": s.agent_persona,
                       "goal_one_liner": s.goal, "success_criteria": list(s.success_criteria),
                       "must_avoid": list(s.must_avoid)}, ensure_ascii=False, indent=1)


def scenario_text(fields: Mapping[str, Any]) -> str:
    parts = [f"Title: {fields['title']}", "", "User persona (hidden from the agent):",
             fields["user_persona"]]
    if fields.get("opening_line"):
        parts += ["", f"Opening line: {fields['opening_line']}"]
    parts += ["", "Agent persona:", fields["agent_persona"]]
    return "\n".join(parts)
