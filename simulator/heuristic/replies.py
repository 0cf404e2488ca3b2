"""The user's reply: short lines from per-scene, per-band phrase banks, chosen by a stable hash.

A reply is at most three short sentences: a reaction to what the agent just did, one line in the
tone of the new state (its anger band or its trust band), and, in the first rounds, a probing
question. A user who trusts the agent less than 20 answers curtly. Reactions are shared by the
scenes unless a scene has its own for that key (``scenes.<scene>.reactions``). The banks live in
``simulator/banks/<lang>.json``; placeholders ``{thing}`` (a money amount from the persona, or a
neutral fallback) are filled from the scenario, and the agent's character is sometimes addressed
by name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from eibench.simulator.heuristic.rules import (
    CURT_TRUST,
    PROBE_UNTIL,
    Signal,
    Verdict,
    state_band,
)

SCENE_KEYS = ("support", "defense", "repair", "charm")
BAND_KEYS = ("0-20", "20-40", "40-60", "60-80", "80-100")
SCENE_PARTS = ("anger", "trust", "probe", "curt", "close")
MIN_VARIANTS = 6

# Signal keys -> the reaction line group the user answers with.
REACTION_OF: dict[str, str] = {
    "boundary": "good_boundary", "alternative": "good_boundary", "boundary_alt": "good_boundary",
    "commitment": "good_concrete", "prevention": "good_concrete",
    "admission": "good_admission", "cause": "good_admission", "apology": "good_admission",
    "presence": "good_presence", "invite": "good_question", "question": "good_question",
    "specific": "good_specific", "consistency": "good_specific",
    "humor": "good_light", "disclosure": "good_light", "opinion": "good_light",
    "warmth": "good_light",
    "template_empathy": "template", "empty_emotion": "template", "ai_self": "ai",
    "list": "format", "stage": "format", "long": "long", "purple": "long", "preach": "preach",
    "politeness": "polite", "hostile": "hostile", "empty": "silent", "echo": "echo",
    "repeat": "repeat", "stale": "repeat", "apology_again": "apology_again",
    "capitulation": "caving", "contradiction": "caving", "no_boundaries": "caving",
    "procedural": "excuse", "deflection": "excuse", "counter_blame": "blame",
    "subject_change": "dodge", "vague_promise": "vague", "rush_forgive": "rush", "fix": "fix",
    "analysis": "analysis", "positivity": "positivity", "eager": "eager", "flattery": "flattery",
    "bland": "bland", "injection": "injection", "patience": "impatient",
}
REACTION_KEYS = tuple(sorted(set(REACTION_OF.values()) | {"flat"}))

_PLACEHOLDER_RE = re.compile(r"\{(\w*)\}")
_ALLOWED_PLACEHOLDERS = frozenset({"thing"})

_EN_NAME_RE = re.compile(r"\b(?:You are|You're|Your name is)\s+([A-Z][a-z'’]+(?:-[A-Z]?[a-z'’]+)*)")
_EN_NOT_NAMES = frozenset({"The", "A", "An", "Not", "Now", "In", "At", "On", "Still", "Here",
                           "There", "Just", "Very", "Being", "Going", "About", "Playing",
                           "Talking"})
_ZH_NAME_RE = re.compile(r"你(?:叫|是)([\u4e00-\u9fffA-Za-z]{2,4}?)(?=[，。、,.\s（(：:；;！!]|$)")
_ZH_NOT_FIRST = frozenset("一个这那他她它我你不公某名位家被此该当本对在从给有很")
_MONEY_RE = {
    "en": re.compile(r"[$£€]\s?\d(?:[\d,]*\d)?(?:\.\d\d)?(?:\s?(?:k|grand|million|thousand)\b)?"
                     r"|\b\d(?:[\d,]*\d)?\s(?:dollars|pounds|euros|bucks)\b"),
    "zh": re.compile(r"(?:\d+(?:\.\d+)?|[一二三四五六七八九十两百千]+)(?:万|千)?(?:块钱|块|元)|\d+(?:\.\d+)?万"),
}


class BankError(ValueError):
    """A phrase bank is missing, malformed, or too thin."""


@dataclass(frozen=True, slots=True)
class Persona:
    """What the replies borrow from the scenario. Any field may be missing."""

    user_name: str | None
    agent_name: str | None
    thing: str | None


def _en_name(text: str) -> str | None:
    for match in _EN_NAME_RE.finditer(text):
        name = match.group(1)
        if name not in _EN_NOT_NAMES:
            return name
    return None


def _zh_name(text: str) -> str | None:
    for match in _ZH_NAME_RE.finditer(text):
        name = match.group(1)
        if name[0] not in _ZH_NOT_FIRST and "的" not in name:
            return name
    return None


@lru_cache(maxsize=1024)
def extract_persona(lang: str, user_persona: str, agent_persona: str,
                    opening_line: str | None) -> Persona:
    """Pull the two names and a money amount out of the scenario text, or leave them out."""
    name = _en_name if lang == "en" else _zh_name
    thing = None
    for source in (opening_line or "", user_persona):
        match = _MONEY_RE[lang].search(source)
        if match:
            amount = match.group(0).strip()
            thing = f"the {amount}" if lang == "en" else amount
            break
    return Persona(user_name=name(user_persona), agent_name=name(agent_persona), thing=thing)


def validate_bank(bank: Any, lang: str) -> dict[str, Any]:
    """Check a bank's shape and return it; raise :class:`BankError` naming what is wrong."""
    where = f"banks/{lang}.json"
    if not isinstance(bank, dict):
        raise BankError(f"{where}: top level must be an object")

    def lines(value: Any, path: str) -> None:
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            raise BankError(f"{where}: {path} must be a list of non-empty strings")
        if len(set(value)) < MIN_VARIANTS:
            raise BankError(f"{where}: {path} has {len(set(value))} distinct lines, "
                            f"needs at least {MIN_VARIANTS}")
        for line in value:
            for name in _PLACEHOLDER_RE.findall(line):
                if name not in _ALLOWED_PLACEHOLDERS:
                    raise BankError(f"{where}: {path}: unknown placeholder {{{name}}} in {line!r}")

    if not isinstance(bank.get("fallback_thing"), str) or not bank["fallback_thing"].strip():
        raise BankError(f"{where}: fallback_thing must be a non-empty string")
    reactions = bank.get("reactions")
    if not isinstance(reactions, dict):
        raise BankError(f"{where}: reactions must be an object")
    for key in REACTION_KEYS:
        if key not in reactions:
            raise BankError(f"{where}: reactions.{key} is missing")
        lines(reactions[key], f"reactions.{key}")
    lines(bank.get("small_talk_close"), "small_talk_close")
    scenes = bank.get("scenes")
    if not isinstance(scenes, dict):
        raise BankError(f"{where}: scenes must be an object")
    for scene in SCENE_KEYS:
        block = scenes.get(scene)
        if not isinstance(block, dict):
            raise BankError(f"{where}: scenes.{scene} is missing")
        for part in SCENE_PARTS:
            if part in ("anger", "trust"):
                bands = block.get(part)
                if not isinstance(bands, dict):
                    raise BankError(f"{where}: scenes.{scene}.{part} must map bands to lines")
                for band in BAND_KEYS:
                    lines(bands.get(band), f"scenes.{scene}.{part}.{band}")
            else:
                lines(block.get(part), f"scenes.{scene}.{part}")
        overrides = block.get("reactions", {})
        if not isinstance(overrides, dict):
            raise BankError(f"{where}: scenes.{scene}.reactions must be an object")
        for key, value in overrides.items():
            if key not in REACTION_KEYS:
                raise BankError(f"{where}: scenes.{scene}.reactions.{key} is not a reaction key")
            lines(value, f"scenes.{scene}.reactions.{key}")
    return bank


@cache
def load_bank(lang: str) -> dict[str, Any]:
    """The validated phrase bank for ``lang`` ("en" or "zh"), read once from package data."""
    path = resources.files("eibench.simulator").joinpath("banks", f"{lang}.json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BankError(f"banks/{lang}.json: not found in the installed package") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BankError(f"banks/{lang}.json: malformed JSON ({exc.msg} at line {exc.lineno})"
                        ) from exc
    return validate_bank(data, lang)


class Dice:
    """Stable choices from a hash of (seed, scenario id, round, agent text); no global state."""

    __slots__ = ("_digest",)

    def __init__(self, seed: int, scenario_id: str, round_no: int, agent_text: str) -> None:
        key = f"{seed}\x1f{scenario_id}\x1f{round_no}\x1f{agent_text}".encode()
        self._digest = hashlib.blake2b(key, digest_size=16).digest()

    def roll(self, slot: int, n: int) -> int:
        """A number in [0, n) for choice ``slot`` (0..7)."""
        return int.from_bytes(self._digest[2 * slot:2 * slot + 2], "big") % n

    def pick(self, slot: int, options: list[str]) -> str:
        return options[self.roll(slot, len(options))]


def _join(parts: list[str], lang: str) -> str:
    parts = [p.strip() for p in parts if p and p.strip()]
    return ("" if lang == "zh" else " ").join(parts)


def _address(reply: str, name: str, lang: str) -> str:
    if lang == "zh":
        return f"{name}，{reply}"
    if reply[:2] in {"I ", "I'", "I’"}:
        return f"{name}, {reply}"
    return f"{name}, {reply[:1].lower()}{reply[1:]}"


def compose_reply(verdict: Verdict, *, scene: str, lang: str, persona: Persona, round_no: int,
                  dice: Dice) -> str:
    """The user's spoken line for this turn, consistent with the verdict and the new state."""
    bank = load_bank(lang)
    lines = bank["scenes"][scene]
    after = verdict.after
    top: Signal | None = verdict.top()
    reaction_key = REACTION_OF.get(top.key, "flat") if top is not None else "flat"
    reactions = lines.get("reactions", {}).get(reaction_key) or bank["reactions"][reaction_key]
    reaction = dice.pick(0, reactions)
    good_turn = top is not None and reaction_key.startswith("good_")
    if verdict.small_talk:
        parts = [dice.pick(1, bank["small_talk_close"])]
    elif verdict.satisfied:
        parts = [reaction, dice.pick(1, lines["close"])]
    elif after.trust < CURT_TRUST:
        parts = [reaction if top is not None else dice.pick(1, lines["curt"])]
    else:
        # Keep the tone coherent with what just happened: after a good move the user speaks to
        # how far they believe the agent (unless they are calm anyway); after a fault, to how
        # upset they are (unless they are calm, when belief is what is at stake).
        calm = state_band(after.anger) <= 1
        if good_turn:
            axis = "anger" if calm and dice.roll(2, 2) else "trust"
        elif top is not None:
            axis = "trust" if calm else "anger"
        else:
            axis = ("anger", "trust")[dice.roll(2, 2)]
        value = after.anger if axis == "anger" else after.trust
        parts = [reaction, dice.pick(1, lines[axis][BAND_KEYS[state_band(value)]])]
        if good_turn and round_no <= PROBE_UNTIL:
            parts.append(dice.pick(3, lines["probe"]))
    reply = _join(parts, lang).replace("{thing}", persona.thing or bank["fallback_thing"])
    if persona.agent_name and not verdict.small_talk and dice.roll(4, 4) == 0:
        reply = _address(reply, persona.agent_name, lang)
    return reply
