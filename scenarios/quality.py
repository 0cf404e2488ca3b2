"""Quality gates for the project's scenario packs.

The reader (``loaders``) checks that each record is a usable scenario. These gates check that it
is a good one, the way the packs are written: persona sections present and in order, persona
lengths within bounds, success anchors inside the scene's range, theme and modifier values from
the taxonomy, an opening line that sounds like the person speaking, and no near-duplicates within
or across splits and packs of the same language. They run on project packs only: the official
files are read as they are.

Each gate is a :data:`~eibench.scenarios.validate.SourceCheck` (a list of scenarios in, problems
out); :func:`validate_packs` runs them with the near-duplicate check across packs and fills in the
file and line of every problem. Bounds and the similarity threshold are justified in
``scenarios/README.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from eibench.scenarios import similarity
from eibench.scenarios.loaders import (
    LoadResult,
    ScenarioError,
    available_packs,
    pack_manifest,
    pack_root,
    read_pack,
)
from eibench.scenarios.model import Problem, Scenario
from eibench.scenarios.taxonomy import (
    AGENT_SECTIONS,
    MODIFIER_POOLS,
    SUCCESS_RANGES,
    THEMES,
    USER_SECTIONS,
    intensity_pool,
)
from eibench.scenarios.validate import DEFAULT_CHECKS, SourceCheck, validate

__all__ = [
    "LENGTH_BOUNDS",
    "MAX_OPENING_SENTENCES",
    "QUALITY_CHECKS",
    "duplicate_problems",
    "locate",
    "opening_line_findings",
    "opening_lines",
    "persona_length",
    "persona_lengths",
    "persona_sections",
    "scenario_problems",
    "success_ranges",
    "taxonomy_values",
    "user_name",
    "validate_packs",
]

USER_FIELD = "aggressor_profile.system_prompt"
AGENT_FIELD = "defender_profile.system_prompt"
OPENING_FIELD = "aggressor_profile.opening_line"

#: Persona length bounds by language and role: (min, max) words for English, characters (no
#: spaces, headings excluded) for Chinese. Languages not listed are not checked.
LENGTH_BOUNDS: dict[str, dict[str, tuple[int, int]]] = {
    "en": {"user": (200, 600), "agent": (80, 300)},
    "zh": {"user": (350, 1400), "agent": (120, 600)},
}
#: Sentences an opening line may have. Fragments ("Well.", "Six years, Soph.", "姐……") do not
#: count: fewer than ``_MIN_SENTENCE_WORDS`` words, or ``_MIN_SENTENCE_CHARS`` Chinese characters.
MAX_OPENING_SENTENCES = 4
_MIN_SENTENCE_WORDS = 4
_MIN_SENTENCE_CHARS = 4

_HEADING_LINE_RE = re.compile(r"^#{1,6}\s*(.*?)\s*$")
_EN_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z0-9]+)*")
_EN_SENTENCE_RE = re.compile(r"(?<=[.!?])[\"”’')]*\s+")
_ZH_SENTENCE_RE = re.compile(r"[。！？!?]+[”’\"」』]?")
_STAGE_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]|（[^）]*）|【[^】]*】|\*[^*]+\*|<[^>]+>")
_LIST_RE = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|[一二三四五六七八九十]+、)\s*", re.MULTILINE)
_EN_PERSON_RE = re.compile(
    r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|we'll|us|our|ours|you|you're|"
    r"you've|you'll|you'd|your|yours|yourself|let's)\b", re.IGNORECASE)
# Speech addressed to someone without a pronoun: "Manman. ..." or "..., Carmen, ...".
_EN_VOCATIVE_RE = re.compile(r"^[A-Z][\w'-]*[,.!?]|,\s*[A-Z][\w'-]*[,.!?]")
_ZH_PERSON_RE = re.compile(r"[我你您咱俺]")
_EN_NAME_RE = re.compile(r"\bYou are ([A-Z][\w'-]+(?:\s[A-Z][\w'-]+)*)")
_ZH_NAME_RES = (re.compile(r"你叫([\u4e00-\u9fff·]{2,4}?)[，,。；、\s（(]"),
                re.compile(r"名叫([\u4e00-\u9fff·]{2,4}?)[，,。；、\s（(]"),
                re.compile(r"你是([\u4e00-\u9fff]{2,3})[，,。]"))


# --- persona structure -----------------------------------------------------------------------

def _split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text before the first ``###`` heading, [(heading, body), ...])."""
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.lstrip().startswith("###"):
            match = _HEADING_LINE_RE.match(line.strip())
            sections.append((match.group(1) if match else line.strip("# "), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            preamble.append(line)
    return "\n".join(preamble), [(h, "\n".join(b)) for h, b in sections]


def _section_problems(text: str, expected: Sequence[str], field: str) -> list[str]:
    preamble, sections = _split_sections(text)
    found = [h for h, _ in sections]
    messages: list[str] = []
    if preamble.strip():
        messages.append("text before the first '### ' heading")
    missing = [h for h in expected if h not in found]
    extra = [h for h in found if h not in expected]
    repeated = sorted({h for h in found if found.count(h) > 1})
    if missing:
        messages.append("missing section(s): " + ", ".join(f"'### {h}'" for h in missing))
    if extra:
        messages.append("unexpected heading(s): " + ", ".join(f"'### {h}'" for h in extra))
    if repeated:
        messages.append("repeated heading(s): " + ", ".join(f"'### {h}'" for h in repeated))
    if not (missing or extra or repeated) and found != list(expected):
        messages.append("sections out of order: expected " + ", ".join(expected) + "; found "
                        + ", ".join(found))
    empty = [h for h, body in sections if h in expected and not body.strip()]
    if empty:
        messages.append("empty section(s): " + ", ".join(f"'### {h}'" for h in empty))
    return messages


def persona_sections(scenarios: list[Scenario]) -> list[Problem]:
    """Both personas have the language's ``### <name>`` sections, in order, none empty."""
    problems: list[Problem] = []
    for s in scenarios:
        for field, text, table in ((USER_FIELD, s.user_persona, USER_SECTIONS),
                                   (AGENT_FIELD, s.agent_persona, AGENT_SECTIONS)):
            expected = table.get(s.language)
            if expected is None:
                continue
            problems.extend(Problem(severity="error", field=field, scenario_id=s.id, message=m)
                            for m in _section_problems(text, expected, field))
    return problems


def persona_length(text: str, language: str) -> int:
    """Words (English) or non-space characters (Chinese) of a persona, headings excluded."""
    body = similarity.persona_body(text)
    if similarity.uses_characters(language):
        return sum(1 for ch in body if not ch.isspace())
    return len(_EN_WORD_RE.findall(body))


def persona_lengths(scenarios: list[Scenario]) -> list[Problem]:
    """Persona lengths within :data:`LENGTH_BOUNDS` for the scenario's language."""
    problems: list[Problem] = []
    for s in scenarios:
        bounds = LENGTH_BOUNDS.get(s.language)
        if bounds is None:
            continue
        unit = "characters" if similarity.uses_characters(s.language) else "words"
        for role, field, text in (("user", USER_FIELD, s.user_persona),
                                  ("agent", AGENT_FIELD, s.agent_persona)):
            low, high = bounds[role]
            n = persona_length(text, s.language)
            if not low <= n <= high:
                problems.append(Problem(
                    severity="error", field=field, scenario_id=s.id,
                    message=f"{role} persona is {n} {unit}; {s.language} {role} personas must be "
                            f"{low}-{high} {unit}"))
    return problems


# --- anchors and taxonomy --------------------------------------------------------------------

def success_ranges(scenarios: list[Scenario]) -> list[Problem]:
    """Success anchors inside the scene's :data:`~eibench.scenarios.taxonomy.SUCCESS_RANGES`."""
    problems: list[Problem] = []
    for s in scenarios:
        (a_lo, a_hi), (t_lo, t_hi) = SUCCESS_RANGES[s.scene.value]
        for key, value, low, high in (("target_anger", s.success.anger, a_lo, a_hi),
                                      ("target_trust", s.success.trust, t_lo, t_hi)):
            if not low <= value <= high:
                problems.append(Problem(
                    severity="error", field=f"rub_goals.{key}", scenario_id=s.id,
                    message=f"{value} is outside the {s.scene.value} success range {low}-{high}"))
    return problems


def taxonomy_values(scenarios: list[Scenario]) -> list[Problem]:
    """Theme and modifier values from the taxonomy pools; a scenario without them is a warning."""
    problems: list[Problem] = []
    for s in scenarios:
        scene = s.scene.value
        if not s.theme:
            problems.append(Problem(severity="warning", field="theme", scenario_id=s.id,
                                    message="no theme (the scenario is left out of coverage)"))
        elif s.theme not in THEMES[scene]:
            problems.append(Problem(severity="error", field="theme", scenario_id=s.id,
                                    message=f"{s.theme!r} is not a {scene} theme (one of: "
                                            f"{', '.join(THEMES[scene])})"))
        if not s.modifiers:
            problems.append(Problem(severity="warning", field="modifiers", scenario_id=s.id,
                                    message="no modifiers (the scenario is left out of coverage)"))
            continue
        for pool in MODIFIER_POOLS:
            if pool not in s.modifiers:
                problems.append(Problem(severity="error", field=f"modifiers.{pool}",
                                        scenario_id=s.id, message="missing"))
        for key, value in s.modifiers.items():
            if key not in MODIFIER_POOLS:
                problems.append(Problem(severity="error", field=f"modifiers.{key}",
                                        scenario_id=s.id,
                                        message=f"unknown modifier (known: "
                                                f"{', '.join(MODIFIER_POOLS)})"))
                continue
            allowed = intensity_pool(scene) if key == "intensity" else MODIFIER_POOLS[key]
            if value not in allowed:
                problems.append(Problem(severity="error", field=f"modifiers.{key}",
                                        scenario_id=s.id,
                                        message=f"{value!r} is not a {key} value for {scene} "
                                                f"(one of: {', '.join(allowed)})"))
    return problems


# --- the opening line ------------------------------------------------------------------------

def user_name(scenario: Scenario) -> str | None:
    """The simulated user's name as the persona introduces it ("You are X", "你叫X"), if found."""
    if similarity.uses_characters(scenario.language):
        for pattern in _ZH_NAME_RES:
            match = pattern.search(scenario.user_persona)
            if match:
                return match.group(1)
        return None
    match = _EN_NAME_RE.search(scenario.user_persona)
    return match.group(1) if match else None


def _sentence_count(line: str, chinese: bool) -> int:
    if chinese:
        parts = _ZH_SENTENCE_RE.split(line)
        return sum(1 for p in parts if sum(1 for ch in p if ch.isalnum()) >= _MIN_SENTENCE_CHARS)
    parts = _EN_SENTENCE_RE.split(line.strip())
    return sum(1 for p in parts if len(_EN_WORD_RE.findall(p)) >= _MIN_SENTENCE_WORDS)


def _starts_with_own_name(line: str, name: str, chinese: bool) -> bool:
    candidates = {name, *name.split()[:1]} if not chinese else {name}
    stripped = line.lstrip(" \"'“‘「")
    for candidate in sorted(candidates, key=len, reverse=True):
        if not stripped.startswith(candidate):
            continue
        rest = stripped[len(candidate):]
        if chinese:
            # "陈哲，……" addresses someone by that name; "陈哲叹了口气" narrates.
            return bool(rest) and rest[0] not in "，,。！？!?…—：:、"
        if rest[:1].isalnum():
            continue  # a longer word that merely begins with the name
        first = rest.lstrip().split(" ", 1)[0].strip(",.!?").lower()
        return not rest.startswith(",") and first not in ("here", "speaking")
    return False


def opening_line_findings(line: str, *, language: str, name: str | None) -> list[tuple[str, str]]:
    """What makes ``line`` sound unlike the user speaking: (severity, message) pairs."""
    chinese = similarity.uses_characters(language)
    findings: list[tuple[str, str]] = []
    if _LIST_RE.search(line):
        findings.append(("error", "reads like a list (lines starting with '-', '*' or a number)"))
    stage = _STAGE_RE.search(line)
    if stage:
        findings.append(("error", f"has narration or a stage direction {stage.group(0)[:40]!r}: "
                                  "write only the spoken words"))
    n = _sentence_count(line, chinese)
    if n > MAX_OPENING_SENTENCES:
        findings.append(("error", f"{n} sentences; an opening line has 1-{MAX_OPENING_SENTENCES}"))
    if n == 0 and not line.strip():
        findings.append(("error", "empty"))
    if name and _starts_with_own_name(line, name, chinese):
        findings.append(("error", f"starts with the user's own name ({name}) as if narrated in "
                                  "the third person"))
    if chinese:
        personal = bool(_ZH_PERSON_RE.search(line))
    else:
        personal = bool(_EN_PERSON_RE.search(line) or _EN_VOCATIVE_RE.search(line.strip()))
    if not personal:
        findings.append(("warning", "no first- or second-person words (I, you, we / 我, 你): "
                                    "does the user speak to the agent?"))
    return findings


def opening_lines(scenarios: list[Scenario]) -> list[Problem]:
    """The opening line sounds like the user: 1-4 sentences, no narration, not a list, not in
    the third person, addressed to the agent."""
    problems: list[Problem] = []
    for s in scenarios:
        if not s.opening_line:
            continue
        for severity, message in opening_line_findings(s.opening_line, language=s.language,
                                                       name=user_name(s)):
            problems.append(Problem(severity=severity, field=OPENING_FIELD, scenario_id=s.id,
                                    message=message))
    return problems


#: The per-scenario gates, in the order their problems are listed.
QUALITY_CHECKS: list[SourceCheck] = [persona_sections, persona_lengths, success_ranges,
                                     taxonomy_values, opening_lines]


def scenario_problems(scenario: Scenario) -> list[Problem]:
    """Every per-scenario gate on one scenario (the generator uses this before accepting)."""
    return [p for check in QUALITY_CHECKS for p in check([scenario])]


# --- near-duplicates -------------------------------------------------------------------------

def _where(s: Scenario) -> str:
    pack = s.source.removeprefix("pack:") or "?"
    return f"{s.id} (pack {pack}, split {s.split})"


def _duplicate_pairs(scenarios: Sequence[Scenario], wanted: set[int],
                     threshold: float) -> list[tuple[int, Problem]]:
    by_language: dict[str, list[int]] = {}
    for index, s in enumerate(scenarios):
        by_language.setdefault(s.language, []).append(index)
    found = []
    for indexes in by_language.values():
        sets = [similarity.scenario_shingles(scenarios[i]) for i in indexes]
        for match in similarity.near_duplicates(sets, threshold):
            first, second = indexes[match.i], indexes[match.j]
            if second not in wanted:
                first, second = second, first
            if second not in wanted:
                continue
            a, b = scenarios[first], scenarios[second]
            if (a.split != b.split and a.source == b.source
                    and a.user_persona.strip() == b.user_persona.strip()):
                continue  # validate.split_separation already reports this one
            kind = "train/test must be separate" if a.split != b.split else "near-duplicate"
            found.append((second, Problem(
                severity="error", field=USER_FIELD, scenario_id=b.id,
                message=f"{kind}: user persona {match.similarity:.2f} similar to {_where(a)} "
                        f"(Jaccard over shingles; threshold {threshold:.2f})")))
    return found


def duplicate_problems(scenarios: Sequence[Scenario], *, checked: Iterable[int] | None = None,
                       threshold: float = similarity.DEFAULT_THRESHOLD) -> list[Problem]:
    """Near-duplicate user personas among ``scenarios``, compared within each language.

    Args:
        scenarios: everything to compare (the checked scenarios and any reference ones).
        checked: indexes of the scenarios being validated; a pair is reported only when one of
            them is checked, on the later checked one. Default: all.
        threshold: Jaccard similarity from which a pair is reported.
    """
    wanted = set(range(len(scenarios))) if checked is None else set(checked)
    return [p for _, p in _duplicate_pairs(scenarios, wanted, threshold)]


# --- locating problems -----------------------------------------------------------------------

def _index_lines(files: Iterable[Path]) -> dict[tuple[str, str], tuple[str, int]]:
    """(split, id) -> (file, line) of the first record with that id; also ("", id)."""
    index: dict[tuple[str, str], tuple[str, int]] = {}
    for path in files:
        split = path.parent.name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("id"):
                index.setdefault((split, str(record["id"])), (str(path), lineno))
                index.setdefault(("", str(record["id"])), (str(path), lineno))
    return index


def locate(problems: list[Problem], result: LoadResult) -> list[Problem]:
    """Fill in file and line for problems that name a scenario of ``result`` but no file."""
    if all(p.file or not p.scenario_id for p in problems):
        return problems
    index = _index_lines(result.files)
    by_id: dict[str, tuple[str, int]] = {}
    for s in result.scenarios:
        where = index.get((s.split, s.id)) or index.get(("", s.id))
        if where is not None:
            by_id.setdefault(s.id, where)
    located = []
    for p in problems:
        where = by_id.get(p.scenario_id) if not p.file else None
        located.append(p.model_copy(update={"file": where[0], "line": where[1]}) if where else p)
    return located


# --- everything together ---------------------------------------------------------------------

def _is_official(root: Path) -> bool:
    return pack_manifest(root).get("origin") == "official"


def validate_packs(packs: Sequence[str], *, split: str | None = None, scene: str | None = None,
                   threshold: float = similarity.DEFAULT_THRESHOLD,
                   reference: Sequence[str] | None = None) -> LoadResult:
    """Validate packs: reader problems, the default checks, every quality gate, near-duplicates.

    A pack imported from the official files (its ``pack.json`` says ``"origin": "official"``) gets
    only the reader's and the default checks, like ``--official``.

    Args:
        packs: shipped pack names or pack folders.
        split: only check this split (near-duplicates are still sought against the whole packs).
        scene: only check this scene.
        threshold: similarity threshold of the near-duplicate check.
        reference: further packs to compare against for near-duplicates (not validated); default:
            every shipped pack.

    Returns:
        The checked scenarios and every problem, with file and line filled in.

    Raises:
        ScenarioError: a pack does not exist or its manifest is unreadable.
    """
    total = LoadResult()
    compare: list[Scenario] = []
    owners: list[LoadResult] = []
    checked: set[int] = set()
    seen: dict[tuple[str, str, str], int] = {}

    def add(result: LoadResult, *, mark: bool) -> None:
        for s in result.scenarios:
            key = (s.source, s.split, s.id)
            if key not in seen:
                seen[key] = len(compare)
                compare.append(s)
                owners.append(result)
            if mark:
                checked.add(seen[key])

    roots: set[Path] = set()
    for pack in packs:
        root = pack_root(pack).resolve()
        if root in roots:
            continue
        roots.add(root)
        official = _is_official(root)
        result = validate(pack=pack, split=split, scene=scene,
                          checks=DEFAULT_CHECKS + ([] if official else QUALITY_CHECKS))
        result.problems = locate(result.problems, result)
        total.extend(result)
        if official:
            continue
        add(result, mark=True)
        if split or scene:
            add(read_pack(pack), mark=False)
    for pack in available_packs() if reference is None else reference:
        try:
            root = pack_root(pack).resolve()
            if root in roots or _is_official(root):
                continue
            roots.add(root)
            add(read_pack(pack), mark=False)
        except ScenarioError:
            continue
    for index, problem in _duplicate_pairs(compare, checked, threshold):
        total.problems.extend(locate([problem], LoadResult(scenarios=[compare[index]],
                                                           files=owners[index].files)))
    return total
