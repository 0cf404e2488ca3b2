"""Generate new scenarios with an LLM, following the EIBench recipe.

For each attempt: sample a theme and one value from each modifier pool, pick two same-scene
examples from a pack, then make three calls: (1) both personas, the opening line and the
descriptive fields; (2) the start and success anchors; (3) the worst case (failure anchor and
reason). Anchors are rounded to multiples of 5 and forced into the orderings and the scene's
success range; the scenario is validated (the model and every quality gate) and compared with the
existing packs of its language and the batch so far. Accepted records are appended to the output
file as they are made; every reject is appended to ``<out stem>.rejects.jsonl`` with its stage,
its reasons and the raw model outputs, so nothing a model wrote is lost.

Prompts are the jinja2 template ``prompts/generate.j2`` (or a file passed as ``prompts``).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eibench.scenarios import similarity
from eibench.scenarios.drafting import (
    ANCHORS_SCHEMA,
    LANGUAGE_NAMES,
    LENGTH_TARGETS,
    PERSONAS_SCHEMA,
    SCENE_GUIDE,
    WORST_SCHEMA,
    GenerationError,
    Prompts,
    StageError,
    as_int,
    as_list,
    as_text,
    clamp,
    example_text,
    extract_json,
    sample_choices,
    scenario_text,
    settle_anchors,
)
from eibench.scenarios.loaders import ScenarioError, available_packs, read_pack
from eibench.scenarios.model import Problem, Scenario
from eibench.scenarios.official import parse_record
from eibench.scenarios.quality import scenario_problems
from eibench.scenarios.similarity import Shingles
from eibench.scenarios.taxonomy import AGENT_SECTIONS, SUCCESS_RANGES, THEMES, USER_SECTIONS
from eibench.simulator.backends.base import BackendError, ChatBackend, ChatMessage, Sampling, Usage

__all__ = [
    "DEFAULT_EXAMPLE_PACKS",
    "GenerateConfig",
    "GenerateReport",
    "GenerationError",
    "Reject",
    "extract_json",
    "generate",
    "rejects_path",
    "sample_choices",
    "settle_anchors",
]

#: The pack examples are taken from when none is named, by language.
DEFAULT_EXAMPLE_PACKS = {"en": "en", "zh": "zh"}


def rejects_path(out: Path) -> Path:
    """Where the rejects of ``out`` go: ``<out stem>.rejects.jsonl`` beside it."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")


# --- the run ---------------------------------------------------------------------------------

@dataclass
class GenerateConfig:
    """Options of one generation run (see ``eibench scenarios generate --help``).

    Attributes:
        scene: the scene type to generate.
        n: scenarios to accept.
        out: the JSONL file accepted records are appended to.
        language: ``en`` or ``zh``.
        pack_examples: pack (name or folder) the two examples per attempt come from.
        seed: seeds the choices and examples of every attempt.
        max_attempts: attempts at most (default ``3 * n``).
        concurrency: attempts in flight at once.
        temperature: sampling temperature of the persona call (anchors use at most 0.3).
        threshold: near-duplicate threshold (Jaccard over user-persona shingles).
        prompts: a template file replacing the built-in one.
        id_prefix: ids are ``<prefix><scene>_<NNN>``; default ``gen_<language>_``.
        reference_packs: packs to de-duplicate against (default: every shipped pack and the
            example pack, of the same language).
        model_name: recorded with each accepted record.
    """

    scene: str
    n: int
    out: Path
    language: str = "en"
    pack_examples: str | None = None
    seed: int = 0
    max_attempts: int | None = None
    concurrency: int = 4
    temperature: float = 0.9
    threshold: float = similarity.DEFAULT_THRESHOLD
    prompts: str | Path | None = None
    id_prefix: str | None = None
    reference_packs: Sequence[str] | None = None
    model_name: str = ""


@dataclass
class Reject:
    """One attempt that did not make it, with everything the model wrote."""

    attempt: int
    stage: str
    reasons: list[str]
    theme: str
    modifiers: dict[str, str]
    examples: list[str]
    outputs: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "stage": self.stage, "reasons": self.reasons,
                "theme": self.theme, "modifiers": self.modifiers, "examples": self.examples,
                "outputs": self.outputs, "record": self.record}


@dataclass
class GenerateReport:
    """What a run did."""

    out: Path
    rejects_file: Path
    accepted: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    stopped: str = ""

    def summary(self) -> dict[str, Any]:
        by_stage: dict[str, int] = {}
        for r in self.rejects:
            by_stage[r.stage] = by_stage.get(r.stage, 0) + 1
        return {"out": str(self.out), "rejects_file": str(self.rejects_file),
                "accepted": len(self.accepted), "ids": self.accepted,
                "rejected": len(self.rejects), "rejected_by_stage": by_stage,
                "attempts": self.attempts, "stopped": self.stopped,
                "usage": {"input_tokens": self.usage.input_tokens,
                          "output_tokens": self.usage.output_tokens,
                          "calls": self.usage.calls, "cost_usd": round(self.usage.cost_usd, 6)}}


@dataclass
class _Attempt:
    index: int
    theme: str
    modifiers: dict[str, str]
    examples: list[Scenario]
    outputs: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


@dataclass
class _Draft:
    attempt: _Attempt
    record: dict[str, Any]
    scenario: Scenario
    shingles: Shingles
    notes: list[str]
    warnings: list[str]


def _read_existing(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GenerationError(f"{path}:{lineno}: the output file already holds a line that "
                                  f"is not JSON ({exc.msg}); fix it or choose another --out") from exc
        if isinstance(record, dict):
            records.append(record)
    return records


class _Run:
    def __init__(self, backend: ChatBackend, config: GenerateConfig) -> None:
        if config.scene not in THEMES:
            raise GenerationError(f"unknown scene {config.scene!r} (one of: {', '.join(THEMES)})")
        if config.language not in LANGUAGE_NAMES:
            raise GenerationError(f"language must be one of {', '.join(LANGUAGE_NAMES)}, "
                                  f"got {config.language!r}")
        if config.n < 1:
            raise GenerationError(f"--n must be at least 1, got {config.n}")
        if config.concurrency < 1:
            raise GenerationError(f"--concurrency must be at least 1, got {config.concurrency}")
        if not config.out.name.endswith(".jsonl"):
            raise GenerationError(f"--out must be a .jsonl file, got {str(config.out)!r}")
        self.backend = backend
        self.config = config
        self.prompts = Prompts(config.prompts)
        self.examples = self._examples()
        self.max_attempts = config.max_attempts or 3 * config.n
        self.prefix = config.id_prefix if config.id_prefix is not None \
            else f"gen_{config.language}_"
        existing = _read_existing(config.out)
        self.ids = {str(r.get("id")) for r in existing}
        self.next_number = 1 + max((self._number(str(r.get("id", ""))) for r in existing),
                                   default=0)
        self.known: list[tuple[str, Shingles]] = self._reference(existing)

    def _number(self, sid: str) -> int:
        match = re.fullmatch(re.escape(f"{self.prefix}{self.config.scene}_") + r"(\d+)", sid)
        return int(match.group(1)) if match else 0

    def _examples(self) -> list[Scenario]:
        pack = self.config.pack_examples or DEFAULT_EXAMPLE_PACKS[self.config.language]
        try:
            result = read_pack(pack, scene=self.config.scene)
        except ScenarioError as exc:
            raise GenerationError(f"examples: {exc} (choose one with --pack-examples)") from exc
        found = [s for s in result.scenarios if s.language == self.config.language]
        if not found:
            raise GenerationError(f"pack {pack!r} has no {self.config.language} "
                                  f"{self.config.scene} scenario to show as an example")
        return found

    def _reference(self, existing: list[dict[str, Any]]) -> list[tuple[str, Shingles]]:
        packs = list(self.config.reference_packs if self.config.reference_packs is not None
                     else available_packs())
        if self.config.pack_examples and self.config.pack_examples not in packs:
            packs.append(self.config.pack_examples)
        known: list[tuple[str, Shingles]] = []
        for pack in packs:
            try:
                result = read_pack(pack)
            except ScenarioError:
                continue
            known.extend((f"{s.id} (pack {pack})", similarity.scenario_shingles(s))
                         for s in result.scenarios if s.language == self.config.language)
        for record in existing:
            persona = (record.get("aggressor_profile") or {}).get("system_prompt")
            if isinstance(persona, str):
                body = similarity.persona_body(persona)
                known.append((f"{record.get('id')} ({self.config.out.name})",
                              similarity.shingles(body, self.config.language)))
        return known

    # one attempt ------------------------------------------------------------------------------

    def _attempt(self, index: int) -> _Attempt:
        rng = random.Random(f"{self.config.seed}:{index}")
        theme, modifiers = sample_choices(rng, self.config.scene)
        examples = rng.sample(self.examples, min(2, len(self.examples)))
        return _Attempt(index, theme, modifiers, examples)

    async def _call(self, attempt: _Attempt, stage: str, prompt: str, schema: dict[str, Any],
                    sampling: Sampling) -> dict[str, Any]:
        messages: list[ChatMessage] = [
            {"role": "system", "content": self.prompts.render("system", **self._values(attempt))},
            {"role": "user", "content": prompt}]
        try:
            completion = await self.backend.complete(messages, json_schema=schema,
                                                     sampling=sampling)
        except BackendError as exc:
            raise StageError("backend", [f"{stage}: {exc}"]) from exc
        attempt.outputs.append(completion.text)
        attempt.usage = attempt.usage + completion.usage
        try:
            return extract_json(completion.text)
        except ValueError as exc:
            raise StageError(stage, [str(exc)]) from exc

    def _values(self, attempt: _Attempt) -> dict[str, Any]:
        lang = self.config.language
        bounds = LENGTH_TARGETS[lang]
        return {"scene": self.config.scene, "language": lang,
                "language_name": LANGUAGE_NAMES[lang], "guide": SCENE_GUIDE[self.config.scene],
                "theme": attempt.theme, "modifiers": attempt.modifiers,
                "user_sections": USER_SECTIONS[lang], "agent_sections": AGENT_SECTIONS[lang],
                "user_length": bounds["user"], "agent_length": bounds["agent"],
                "unit": "characters" if similarity.uses_characters(lang) else "words",
                "success_range": SUCCESS_RANGES[self.config.scene],
                "examples": [example_text(s) for s in attempt.examples]}

    async def _draft(self, attempt: _Attempt) -> _Draft:
        values = self._values(attempt)
        cfg = self.config
        calm = Sampling(temperature=min(cfg.temperature, 0.3), max_tokens=1024)
        obj = await self._call(attempt, "personas", self.prompts.render("personas", **values),
                               PERSONAS_SCHEMA,
                               Sampling(temperature=cfg.temperature, max_tokens=4096))
        problems: list[str] = []
        fields: dict[str, Any] = {
            "title": as_text(obj, "title", problems),
            "user_persona": as_text(obj, "user_persona", problems),
            "agent_persona": as_text(obj, "agent_persona", problems),
            "goal": as_text(obj, "goal_one_liner", problems, required=False),
            "success_criteria": as_list(obj, "success_criteria", problems),
            "must_avoid": as_list(obj, "must_avoid", problems)}
        notes: list[str] = []
        opening = obj.get("opening_line")
        if cfg.scene == "charm":
            if opening:
                notes.append("opening_line dropped (the agent opens in charm scenes)")
            fields["opening_line"] = None
        else:
            fields["opening_line"] = as_text(obj, "opening_line", problems)
        if problems:
            raise StageError("personas", problems)
        described = scenario_text(fields)

        obj = await self._call(attempt, "anchors",
                               self.prompts.render("anchors", scenario=described, **values),
                               ANCHORS_SCHEMA, calm)
        raw = {k: as_int(obj, k, problems) for k in ("initial_anger", "initial_trust",
                                                      "target_anger", "target_trust")}
        if problems:
            raise StageError("anchors", problems)
        start = (clamp(raw["initial_anger"], 0, 100), clamp(raw["initial_trust"], 0, 100))
        success = (clamp(raw["target_anger"], 0, 100), clamp(raw["target_trust"], 0, 100))
        # Settle start and success first so the worst-case prompt shows the final values.
        s0, s1, _, _ = settle_anchors(cfg.scene, start, success, (100, 0))
        obj = await self._call(attempt, "worst_case",
                               self.prompts.render("worst_case", scenario=described,
                                                   start=s0, success=s1, **values),
                               WORST_SCHEMA, calm)
        worst = (as_int(obj, "worst_anger_min", problems), as_int(obj, "worst_trust_min",
                                                                     problems))
        reason = as_text(obj, "reason", problems)
        if problems:
            raise StageError("worst_case", problems)
        start_a, success_a, failure_a, adjust = settle_anchors(
            cfg.scene, start, success, (clamp(worst[0], 0, 100), clamp(worst[1], 0, 100)))
        notes += adjust
        record = {
            "id": f"draft_{attempt.index}", "title": fields["title"], "language": cfg.language,
            "scene_tag": cfg.scene, "theme": attempt.theme, "modifiers": attempt.modifiers,
            "aggressor_profile": {"system_prompt": fields["user_persona"],
                                  **({"opening_line": fields["opening_line"]}
                                     if fields["opening_line"] else {})},
            "defender_profile": {"system_prompt": fields["agent_persona"]},
            "goal_one_liner": fields["goal"], "success_criteria": fields["success_criteria"],
            "must_avoid": fields["must_avoid"],
            "initial_calibration": {"initial_anger": start_a.anger,
                                    "initial_trust": start_a.trust},
            "rub_goals": {"target_anger": success_a.anger, "target_trust": success_a.trust},
            "worst_case": {"worst_anger_min": failure_a.anger,
                           "worst_trust_min": failure_a.trust, "reason": reason},
        }
        scenario, parsed = parse_record(record, split="generated", source="generator",
                                        strict=True)
        errors = [p for p in parsed if p.severity == "error"]
        warnings: list[Problem] = [p for p in parsed if p.severity != "error"]
        if scenario is not None:
            gates = scenario_problems(scenario)
            errors += [p for p in gates if p.severity == "error"]
            warnings += [p for p in gates if p.severity != "error"]
        if errors or scenario is None:
            raise StageError("validate", [_describe(p) for p in errors] or ["invalid record"],
                             record=record)
        return _Draft(attempt, record, scenario, similarity.scenario_shingles(scenario), notes,
                      [_describe(p) for p in warnings])

    async def _try(self, attempt: _Attempt) -> _Draft | Reject:
        try:
            return await self._draft(attempt)
        except StageError as exc:
            return Reject(attempt.index, exc.stage, exc.reasons, attempt.theme,
                          attempt.modifiers, [s.id for s in attempt.examples],
                          list(attempt.outputs), exc.record)

    # acceptance ---------------------------------------------------------------------------------

    def _duplicate_of(self, shingles: Shingles) -> tuple[str, float] | None:
        best: tuple[str, float] | None = None
        for name, other in self.known:
            sim = similarity.jaccard(shingles, other)
            if sim >= self.config.threshold and (best is None or sim > best[1]):
                best = (name, sim)
        return best

    def _new_id(self) -> str:
        while True:
            sid = f"{self.prefix}{self.config.scene}_{self.next_number:03d}"
            self.next_number += 1
            if sid not in self.ids:
                self.ids.add(sid)
                return sid

    def _accept(self, draft: _Draft, report: GenerateReport) -> Reject | None:
        dup = self._duplicate_of(draft.shingles)
        attempt = draft.attempt
        if dup is not None:
            return Reject(attempt.index, "duplicate",
                          [f"user persona {dup[1]:.2f} similar to {dup[0]} (threshold "
                           f"{self.config.threshold:.2f})"], attempt.theme, attempt.modifiers,
                          [s.id for s in attempt.examples], list(attempt.outputs), draft.record)
        sid = self._new_id()
        record = dict(draft.record, id=sid)
        record["prompt"] = draft.scenario.to_record()["prompt"]
        record["generation"] = {"model": self.config.model_name, "seed": self.config.seed,
                                "attempt": attempt.index,
                                "examples": [s.id for s in attempt.examples],
                                "adjusted": draft.notes, "warnings": draft.warnings}
        _append(self.config.out, record)
        self.known.append((f"{sid} ({self.config.out.name})", draft.shingles))
        report.accepted.append(sid)
        return None

    async def run(self) -> GenerateReport:
        report = GenerateReport(out=self.config.out, rejects_file=rejects_path(self.config.out))
        self.config.out.parent.mkdir(parents=True, exist_ok=True)
        failures_in_a_row = 0
        while len(report.accepted) < self.config.n and report.attempts < self.max_attempts:
            wave = min(self.config.concurrency, self.config.n - len(report.accepted),
                       self.max_attempts - report.attempts)
            attempts = [self._attempt(report.attempts + i) for i in range(wave)]
            report.attempts += wave
            results = await asyncio.gather(*(self._try(a) for a in attempts))
            for attempt, outcome in zip(attempts, results, strict=True):
                report.usage = report.usage + attempt.usage
                reject = self._accept(outcome, report) if isinstance(outcome, _Draft) else outcome
                if reject is None:
                    failures_in_a_row = 0
                    continue
                report.rejects.append(reject)
                _append(report.rejects_file, reject.to_json())
                failures_in_a_row = failures_in_a_row + 1 if reject.stage == "backend" else 0
            if failures_in_a_row >= 3:
                report.stopped = ("stopped after 3 backend failures in a row: "
                                  + "; ".join(report.rejects[-1].reasons))
                break
        if not report.stopped and len(report.accepted) < self.config.n:
            report.stopped = (f"attempt limit reached ({self.max_attempts}) with "
                              f"{len(report.accepted)} of {self.config.n} accepted")
        return report


def _describe(p: Problem) -> str:
    return f"{p.field}: {p.message}" if p.field else p.message


def _append(path: Path, record: Mapping[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


async def generate(backend: ChatBackend, config: GenerateConfig) -> GenerateReport:
    """Generate ``config.n`` scenarios with ``backend``; see the module docstring.

    Accepted records are appended to ``config.out`` (ids continue any already there) and rejects
    to :func:`rejects_path` as each wave of attempts finishes.

    Raises:
        GenerationError: bad options, no examples in the example pack, an unreadable template or
            output file.
    """
    return await _Run(backend, config).run()
