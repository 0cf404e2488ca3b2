"""The scenario model: one simulated person in one situation, with the anchors that score it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

SCENES = ("support", "defense", "repair", "charm")
MAX_ROUNDS = 8


class Scene(StrEnum):
    """The four scene types of the 2x2 taxonomy."""

    SUPPORT = "support"
    DEFENSE = "defense"
    REPAIR = "repair"
    CHARM = "charm"


class Anchor(BaseModel):
    """One (anger, trust) point on the scenario's scale, each an int in [0, 100]."""

    model_config = ConfigDict(frozen=True)

    anger: int = Field(ge=0, le=100, strict=True)
    trust: int = Field(ge=0, le=100, strict=True)


class Problem(BaseModel):
    """One finding of validation: where, what, and how bad."""

    model_config = ConfigDict(frozen=True)

    severity: str  # "error" | "warning"
    message: str
    field: str = ""
    scenario_id: str = ""
    file: str = ""
    line: int = 0

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else "<input>"
        sid = f" [{self.scenario_id}]" if self.scenario_id else ""
        fld = f" {self.field}:" if self.field else ""
        return f"{where}{sid} {self.severity}:{fld} {self.message}"


class Scenario(BaseModel):
    """A benchmark scenario, the same for the project's packs and the official EIBench files.

    Validation raises on anything that makes the scenario unusable. Anchor findings that leave the
    score computable but degenerate (a start anchor outside the success-failure interval, values
    that are not multiples of 5) are errors in strict mode (the default, used for the project's own
    packs) and are kept in ``warnings`` when validated with ``context={"strict": False}`` (used for
    upstream data, which has a few such scenarios; they are scored with the formula as written).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    split: str = "test"
    scene: Scene
    language: str = "zh"
    title: str = ""
    user_persona: str
    opening_line: str | None = None
    agent_persona: str
    start: Anchor
    success: Anchor
    failure: Anchor
    goal: str = ""
    success_criteria: tuple[str, ...] = ()
    must_avoid: tuple[str, ...] = ()
    worst_case_reason: str = ""
    agent_first_message: str | None = None
    theme: str = ""
    modifiers: dict[str, str] = Field(default_factory=dict)
    max_rounds: int = Field(default=MAX_ROUNDS, ge=1, le=50)
    source: str = ""
    warnings: tuple[str, ...] = ()

    @field_validator("user_persona", "agent_persona")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("persona must be a non-empty string")
        return value

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Scenario:
        strict = True if info.context is None else bool(info.context.get("strict", True))
        if self.scene is Scene.CHARM:
            if self.opening_line:
                raise ValueError("opening_line: charm scenarios have no opening line (the agent opens)")
        elif not (self.opening_line and self.opening_line.strip()):
            raise ValueError(f"opening_line: required in {self.scene.value} scenarios")
        hard, soft = anchor_findings(self.start, self.success, self.failure)
        if hard:
            raise ValueError("; ".join(hard))
        if soft:
            if strict:
                raise ValueError("; ".join(soft))
            object.__setattr__(self, "warnings", tuple(soft))
        return self

    @property
    def agent_opens(self) -> bool:
        """True when the agent speaks first (charm)."""
        return self.opening_line is None

    def to_record(self) -> dict[str, Any]:
        """Serialise to the official JSONL field layout, plus ``language`` and ``split``."""
        from eibench.scenarios.official import scenario_to_record

        return scenario_to_record(self)


def anchor_findings(start: Anchor, success: Anchor, failure: Anchor) -> tuple[list[str], list[str]]:
    """Check the anchors; return (hard errors, soft findings), each naming the field at fault.

    Hard: success and failure in the wrong order on an axis (the score would reward failure).
    Soft: the start not strictly between them, or a value that is not a multiple of 5.
    """
    hard: list[str] = []
    soft: list[str] = []
    if not success.anger < failure.anger:
        hard.append(f"anchors.anger: success ({success.anger}) must be below failure ({failure.anger})")
    if not failure.trust < success.trust:
        hard.append(f"anchors.trust: failure ({failure.trust}) must be below success ({success.trust})")
    if not hard:
        if not success.anger < start.anger < failure.anger:
            soft.append(f"anchors.anger: order must be success < start < failure, got "
                        f"{success.anger} < {start.anger} < {failure.anger}")
        if not failure.trust < start.trust < success.trust:
            soft.append(f"anchors.trust: order must be failure < start < success, got "
                        f"{failure.trust} < {start.trust} < {success.trust}")
    for name, point in (("start", start), ("success", success), ("failure", failure)):
        for axis in ("anger", "trust"):
            value = getattr(point, axis)
            if value % 5:
                soft.append(f"anchors.{name}.{axis}: {value} is not a multiple of 5")
    return hard, soft
