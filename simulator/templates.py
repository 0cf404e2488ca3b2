"""Prompt templates for the LLM simulator: loading, user override, rendering, hashing.

A template is one jinja2 file that renders three parts, picked by the variable ``part``:
``system`` (rules and persona, stable across a scenario's turns, so providers can cache it),
``turn`` (the per-turn user message) and ``correction`` (sent after an unparseable answer).
The built-in templates live in ``prompts/<language>.j2``; a user file replaces them for every
scenario. A template's identity is the sha256 of its source text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from eibench.simulator.backends.base import ChatMessage
from eibench.simulator.state import State
from eibench.simulator.types import Utterance, rounds_done

if TYPE_CHECKING:
    from eibench.scenarios.model import Scenario

BUILTIN_LANGUAGES = ("en", "zh")
FALLBACK_LANGUAGE = "en"
PARTS = ("system", "turn", "correction")

#: Tag names the templates use to fence conversation text. Any copy of them inside fenced text is
#: neutralised so that text cannot close its fence and pose as instructions.
FENCE_TAGS = ("heard", "said", "notes")
_TAG_RE = re.compile(r"[<＜‹〈]\s*(/?)\s*(" + "|".join(FENCE_TAGS) + r")\b\s*[>＞›〉]?", re.IGNORECASE)


class TemplateError(ValueError):
    """A prompt template cannot be loaded or rendered; the message says which and why."""


def neutralise(text: str) -> str:
    """Defang every opening or closing fence tag inside ``text`` (``</heard>`` -> ``[/heard]``).

    The words stay readable; only the tag syntax the fences use becomes impossible.
    """
    return _TAG_RE.sub(lambda m: f"[{m.group(1)}{m.group(2).lower()}]", text)


def fence(text: str, tag: str) -> str:
    """Wrap ``text`` in ``<tag>`` ... ``</tag>`` after neutralising any fence tag inside it."""
    if tag not in FENCE_TAGS:
        raise TemplateError(f"fence tag {tag!r} is not one of {', '.join(FENCE_TAGS)}")
    return f"<{tag}>\n{neutralise(text).strip()}\n</{tag}>"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                               lstrip_blocks=True, keep_trailing_newline=False, autoescape=False)
    env.filters["fence"] = fence
    return env


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PromptTemplate:
    """One compiled template.

    Attributes:
        name: ``builtin:<language>`` or the file path it was read from.
        source: the template's source text.
        sha256: hex sha256 of ``source``.
    """

    name: str
    source: str
    sha256: str
    _template: jinja2.Template = field(repr=False, compare=False)

    @classmethod
    def from_source(cls, source: str, name: str) -> PromptTemplate:
        """Compile ``source``; raise :class:`TemplateError` naming ``name`` on a syntax error."""
        try:
            compiled = _environment().from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"prompt template {name}: syntax error on line {exc.lineno}: "
                                f"{exc.message}") from exc
        return cls(name=name, source=source, sha256=sha256_text(source), _template=compiled)

    def render(self, part: str, **context: Any) -> str:
        """Render one part; raise :class:`TemplateError` if it fails or comes out empty."""
        if part not in PARTS:
            raise TemplateError(f"unknown template part {part!r}; parts are {', '.join(PARTS)}")
        try:
            text = self._template.render(part=part, **context).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(f"prompt template {self.name}: cannot render part {part!r}: "
                                f"{exc}") from exc
        if not text:
            raise TemplateError(f"prompt template {self.name} renders nothing for part {part!r}: "
                                f"it must produce text when part == {part!r}")
        return text

    def system_prompt(self, scenario: Scenario) -> str:
        """The stable system prompt of ``scenario``: rules, scene and persona."""
        return self.render("system", **_scenario_context(scenario))

    def turn_message(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                     agent_text: str) -> str:
        """The per-turn user message: state, round counter, dialogue so far, the latest words."""
        return self.render("turn", **_turn_context(scenario, state, history, agent_text))

    def correction_message(self, error: str) -> str:
        """The message asking for a new answer after ``error``."""
        context = _blank_context()
        context["error"] = error
        return self.render("correction", **context)

    def messages(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                 agent_text: str) -> list[ChatMessage]:
        """The chat messages for one simulator turn: system, then the per-turn user message."""
        return [
            {"role": "system", "content": self.system_prompt(scenario)},
            {"role": "user", "content": self.turn_message(scenario, state, history, agent_text)},
        ]

    def check(self) -> None:
        """Render every part with a sample scenario; raise :class:`TemplateError` on a failure."""
        from eibench.scenarios.model import Anchor, Scenario, Scene

        sample = Scenario(
            id="template_check", scene=Scene.REPAIR, language="en", user_persona="You are Sam.",
            opening_line="You forgot again.", agent_persona="You are Alex.",
            start=Anchor(anger=60, trust=30), success=Anchor(anger=20, trust=70),
            failure=Anchor(anger=90, trust=10))
        history = [Utterance("user", "You forgot again."), Utterance("agent", "I did."),
                   Utterance("user", "And?", reflection="notes")]
        self.system_prompt(sample)
        self.turn_message(sample, State(60, 30), history, "I'm sorry.")
        self.correction_message("missing field reply")


def _blank_context() -> dict[str, Any]:
    return {"scene": "", "persona": "", "title": "", "anger": 0, "trust": 0, "round": 0,
            "max_rounds": 0, "history": [], "agent_text": "", "user_opened": False, "error": ""}


def _scenario_context(scenario: Scenario) -> dict[str, Any]:
    context = _blank_context()
    context.update(scene=scenario.scene.value, persona=scenario.user_persona.strip(),
                   title=scenario.title, max_rounds=scenario.max_rounds,
                   user_opened=not scenario.agent_opens)
    return context


def _turn_context(scenario: Scenario, state: State, history: Sequence[Utterance],
                  agent_text: str) -> dict[str, Any]:
    context = _scenario_context(scenario)
    context.update(
        anger=state.anger, trust=state.trust, round=rounds_done(history) + 1,
        history=_history_items(history), agent_text=agent_text)
    return context


def _history_items(history: Sequence[Utterance]) -> list[dict[str, Any]]:
    """The dialogue as the simulator may see it: agent words only, the user's words and notes."""
    items: list[dict[str, Any]] = []
    round_no = 0
    for u in history:
        if u.speaker == "agent":
            round_no += 1
        items.append({"speaker": u.speaker, "text": u.text, "round": round_no,
                      "reflection": u.reflection if u.speaker == "user" else ""})
    return items


def _read_builtin(language: str) -> str:
    return (resources.files("eibench.simulator") / "prompts" / f"{language}.j2").read_text(
        encoding="utf-8")


def builtin_template(language: str) -> PromptTemplate:
    """The shipped template for ``language`` (``en`` or ``zh``)."""
    if language not in BUILTIN_LANGUAGES:
        raise TemplateError(f"no built-in prompt template for language {language!r}; built-in "
                            f"languages are {', '.join(BUILTIN_LANGUAGES)}")
    return PromptTemplate.from_source(_read_builtin(language), name=f"builtin:{language}")


def load_template_file(path: str | Path) -> PromptTemplate:
    """Read, compile and check a user's template file (``--simulator-prompt``)."""
    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"prompt template file {str(file)!r} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read prompt template file {str(file)!r}: {exc}") from exc
    template = PromptTemplate.from_source(source, name=str(file))
    template.check()
    return template


class PromptSet:
    """Picks the template for each scenario: the override if one was given, else by language.

    Scenarios in a language without a built-in template use the English one, which tells the
    simulated person to speak the language the conversation is in.
    """

    def __init__(self, override: PromptTemplate | None = None,
                 templates: Mapping[str, PromptTemplate] | None = None) -> None:
        self.override = override
        self.templates = dict(templates) if templates is not None else (
            {} if override else {lang: builtin_template(lang) for lang in BUILTIN_LANGUAGES})
        if override is None and FALLBACK_LANGUAGE not in self.templates:
            raise TemplateError(f"a prompt set needs a {FALLBACK_LANGUAGE!r} template")

    @classmethod
    def load(cls, path: str | Path | None = None) -> PromptSet:
        """The built-in templates, or the file at ``path`` for every scenario."""
        return cls(override=load_template_file(path)) if path else cls()

    def for_scenario(self, scenario: Scenario) -> PromptTemplate:
        """The template used for ``scenario``."""
        if self.override is not None:
            return self.override
        return self.templates.get(scenario.language, self.templates[FALLBACK_LANGUAGE])

    @property
    def prompt_hash(self) -> str:
        """The override's sha256; for the built-in set, a sha256 over each language's sha256.

        One value identifies everything a run could have sent, whatever its scenarios' languages;
        the per-language hashes are in :attr:`hashes`.
        """
        if self.override is not None:
            return self.override.sha256
        joined = "\n".join(f"{lang}:{t.sha256}" for lang, t in sorted(self.templates.items()))
        return sha256_text(joined)

    @property
    def hashes(self) -> dict[str, str]:
        """sha256 of each template by language (``override`` when a file replaces them)."""
        if self.override is not None:
            return {"override": self.override.sha256}
        return {lang: t.sha256 for lang, t in sorted(self.templates.items())}
