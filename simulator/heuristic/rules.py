"""The rubric of spec section 3 as code: from features to deltas, bands and the stop decision.

Everything is recomputed from the dialogue passed in (no state kept between calls): which tactics
the agent already used, how many good turns came in a row, whether it apologised before.

Points are in delta units. A good move lowers anger and raises trust by its points; a fault raises
anger and lowers trust by its points. Improvements are rounded and capped by band (small 1-2,
medium 3-5, large 6-8, and large only after a streak of good turns); worsening is capped at 10.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from eibench.simulator.heuristic.features import (
    ContextFeatures,
    TextFeatures,
    context_features,
    text_features,
    tokens_of,
)
from eibench.simulator.state import State, Transition, apply_deltas, clip_delta

Points = tuple[float, float]

# Good moves: (anger lowered, trust raised) at first use, by scene.
GOOD_POINTS: dict[str, dict[str, Points]] = {
    "defense": {"boundary": (1.5, 1.0), "alternative": (1.0, 1.0), "boundary_alt": (1.0, 1.0),
                "commitment": (1.5, 2.0), "question": (0.5, 0.5), "admission": (0.5, 0.5)},
    "repair": {"admission": (2.0, 1.0), "cause": (1.0, 1.5), "prevention": (1.5, 2.0),
               "commitment": (1.5, 1.5), "apology": (0.5, 0.0), "question": (0.5, 0.5)},
    "support": {"presence": (1.5, 1.5), "invite": (1.0, 1.0), "question": (1.0, 1.0),
                "commitment": (1.0, 1.0), "disclosure": (0.0, 0.5)},
    "charm": {"question": (1.0, 1.5), "humor": (1.0, 1.0), "disclosure": (0.5, 1.5),
              "opinion": (0.5, 1.0), "warmth": (0.0, 0.5)},
}
# Being about this person and this situation (the opening line, the facts both sides know)
# without parroting: half credit for one shared topic token (two bigrams in zh), full from two
# (four).
SPECIFIC_POINTS: dict[str, Points] = {"defense": (1.0, 1.0), "repair": (1.0, 1.0),
                                      "support": (1.5, 1.5), "charm": (0.5, 1.5)}
SPECIFIC_MIN = {"en": 1, "zh": 2}
SPECIFIC_FULL = {"en": 2, "zh": 4}

# Faults penalised in every scene: (anger raised, trust lowered).
ALWAYS_FAULTS: dict[str, Points] = {
    "template_empathy": (2.0, 2.0), "ai_self": (3.0, 4.0), "list": (2.0, 3.0), "long": (2.0, 2.0),
    "preach": (3.0, 2.0), "purple": (1.0, 2.0), "empty_emotion": (2.0, 2.0), "stage": (2.0, 2.0),
    "politeness": (1.0, 2.0), "hostile": (5.0, 4.0), "empty": (2.0, 2.0), "echo": (2.0, 2.0),
    "repeat": (2.0, 3.0), "stale": (0.0, 1.0), "injection": (3.0, 4.0), "vague_promise": (1.0, 2.0),
    "deflection": (3.0, 2.0), "procedural": (2.0, 2.0), "counter_blame": (3.0, 2.0),
    "capitulation": (0.0, 3.0), "eager": (1.0, 2.0), "flattery": (2.0, 2.0),
    "positivity": (1.0, 2.0), "fix": (1.0, 1.0), "analysis": (1.0, 1.0),
}
# Scene triggers escalate at once (+5..+10 anger or -5..-10 trust); they replace the above.
SCENE_TRIGGERS: dict[str, dict[str, Points]] = {
    "defense": {"apology_again": (6.0, 2.0), "contradiction": (2.0, 6.0), "procedural": (5.0, 1.0),
                "deflection": (6.0, 2.0), "template_empathy": (5.0, 2.0),
                "capitulation": (2.0, 6.0)},
    "repair": {"apology_again": (5.0, 2.0), "subject_change": (6.0, 2.0), "counter_blame": (8.0, 3.0),
               "vague_promise": (2.0, 5.0), "rush_forgive": (6.0, 2.0)},
    "support": {"repeat": (2.0, 5.0), "fix": (1.0, 5.0), "analysis": (1.0, 5.0), "long": (1.0, 5.0),
                "positivity": (2.0, 6.0), "purple": (1.0, 5.0)},
    "charm": {"repeat": (5.0, 2.0), "eager": (2.0, 5.0), "flattery": (6.0, 3.0),
              "no_boundaries": (1.0, 5.0), "bland": (1.0, 5.0)},
}
# Credit for the n-th use of the same gesture (first, second, third and later).
DECAY = (1.0, 0.5, 0.0)
# Tactics that carry content (a new commitment, a new fact) decay with how much of the message is
# new rather than with how often the move was made: a fresh concrete step is not a repetition.
CONTENT_TACTICS = frozenset({"commitment", "prevention", "cause", "disclosure", "specific"})
NOVELTY_CREDIT = ((0.6, 1.0), (0.3, 0.5))
LONG_SENTENCES = 4
LONG_SIZE = {"en": 90, "zh": 150}
ECHO_LIMIT = 0.35
REPEAT_LIMIT = 0.6
LOW_NOVELTY = 0.3
IMPROVE_CAP = 5
LARGE_CAP = 8
LARGE_STREAK = 3
SUPPORT_LARGE_FROM = 5
HOT_ANGER = 60
HOT_GOOD = 0.85
HOT_BAD = 1.25
CONSISTENT_STREAK = 2
CURT_TRUST = 20
STOP_ANGER = 40
STOP_TRUST = 60
STOP_STREAK = 3
PROBE_UNTIL = 4

NEEDS = {
    "support": "presence and specifics, not advice",
    "defense": "a calm, firm line with something concrete on offer",
    "repair": "a clear admission, the cause, and how it will not happen again",
    "charm": "something light, curious and specific, without pushing",
}


@dataclass(frozen=True, slots=True)
class Signal:
    """One thing that fired in the agent's turn.

    ``anger`` and ``trust`` are magnitudes in delta units: a good move lowers anger and raises
    trust by them, a fault raises anger and lowers trust by them.
    """

    key: str
    anger: float
    trust: float
    trigger: bool = False
    note: str = ""

    def scaled(self, factor: float, note: str = "") -> Signal:
        return Signal(self.key, self.anger * factor, self.trust * factor, self.trigger,
                      note or self.note)

    @property
    def weight(self) -> float:
        return self.anger + self.trust


@dataclass(frozen=True, slots=True)
class Verdict:
    """The rubric's judgement of one agent turn."""

    good: tuple[Signal, ...]
    bad: tuple[Signal, ...]
    anger_delta: int
    trust_delta: int
    improvement: int
    worsening_anger: int
    worsening_trust: int
    streak: int
    context: ContextFeatures
    features: TextFeatures
    notes: tuple[str, ...]
    small_talk: bool
    satisfied: bool
    transition: Transition

    @property
    def after(self) -> State:
        return self.transition.after

    @property
    def keep_going(self) -> bool:
        return not (self.small_talk or self.satisfied)

    @property
    def stop_reason(self) -> str:
        if self.small_talk:
            return "the talk has decayed into small talk"
        if self.satisfied:
            return "several concrete, aligned turns in a row and nothing left open"
        return ""

    @property
    def progress(self) -> bool:
        return self.anger_delta < 0 or self.trust_delta > 0

    def top(self) -> Signal | None:
        """The signal the user reacts to: the worst fault if faults win, else the best move."""
        worst = max(self.bad, key=lambda s: (s.trigger, s.weight), default=None)
        # The consistency bonus is not a move of its own; react to the move that earned it.
        moves = [s for s in self.good if s.key != "consistency"] or list(self.good)
        best = max(moves, key=lambda s: s.weight, default=None)
        if worst is not None and (worst.trigger or self.trust_delta <= 0 or best is None):
            return worst
        return best


def _good_base(tf: TextFeatures, scene: str) -> dict[str, Points]:
    """Good moves visible in the message alone, with their first-use points for ``scene``."""
    table = GOOD_POINTS[scene]
    found: dict[str, Points] = {}
    caving = "capitulation" in tf.hits
    if "boundary" in tf.hits and not caving and "boundary" in table:
        found["boundary"] = table["boundary"]
    if "alternative" in tf.hits and "alternative" in table:
        found["alternative"] = table["alternative"]
    if "boundary" in found and "alternative" in found:
        found["boundary_alt"] = table["boundary_alt"]
    if tf.commitments and "commitment" in table:
        found["commitment"] = table["commitment"]
    if "admission" in tf.hits and "counter_blame" not in tf.hits and "admission" in table:
        found["admission"] = table["admission"]
    if "cause" in tf.hits and "admission" in tf.hits and "cause" in table:
        found["cause"] = table["cause"]
    if "prevention" in tf.hits and "prevention" in table:
        found["prevention"] = table["prevention"]
    if ("apology" in tf.hits and ("admission" in tf.hits or tf.commitments)
            and tf.hits["apology"] == 1 and "apology" in table):
        found["apology"] = table["apology"]
    if "presence" in tf.hits and "presence" in table:
        found["presence"] = table["presence"]
    if "invite" in tf.hits and "invite" in table:
        found["invite"] = table["invite"]
    # Any question shows curiosity in charm, elsewhere only an open one; "how are you" is neither.
    asks = tf.open_questions or (scene == "charm" and tf.questions)
    if asks and "bland" not in tf.hits and tf.sentences <= LONG_SENTENCES and "question" in table:
        found["question"] = table["question"]
    if "disclosure" in tf.hits and tf.sentences <= LONG_SENTENCES and "disclosure" in table:
        found["disclosure"] = table["disclosure"]
    if ("humor" in tf.hits and "flattery" not in tf.hits and "eager" not in tf.hits
            and "humor" in table):
        found["humor"] = table["humor"]
    if "opinion" in tf.hits and "opinion" in table:
        found["opinion"] = table["opinion"]
    if (tf.hits.get("positive", 0) > tf.hits.get("negative", 0) and "flattery" not in tf.hits
            and "bland" not in tf.hits and "warmth" in table):
        found["warmth"] = table["warmth"]
    return found


def _long(tf: TextFeatures) -> bool:
    return tf.sentences > LONG_SENTENCES or tf.size > LONG_SIZE[tf.lang]


def _fault_keys(tf: TextFeatures, scene: str) -> list[str]:
    """Faults visible in the message alone (before scene triggers are applied)."""
    keys: list[str] = []
    if not tf.text.strip():
        return ["empty"]
    for name in ("template_empathy", "ai_self", "preach", "empty_emotion", "hostile"):
        if name in tf.hits:
            keys.append(name)
    if tf.structured:
        keys.append("list")
    if _long(tf):
        keys.append("long")
    if tf.hits.get("purple", 0) >= 2:
        keys.append("purple")
    if tf.stage:
        keys.append("stage")
    polite = tf.hits.get("politeness", 0)
    mild = tf.text.lower().count("please") if tf.lang == "en" else tf.text.count("您")
    if polite - mild > 0 or polite >= 3:
        keys.append("politeness")
    if "vague_promise" in tf.hits and not tf.commitments:
        keys.append("vague_promise")
    if "vague_prevention" in tf.hits and not tf.commitments and "prevention" not in tf.hits:
        keys.append("vague_promise")
    for name in ("deflection", "procedural", "counter_blame", "positivity", "fix", "analysis"):
        if name in tf.hits:
            keys.append(name)
    if "capitulation" in tf.hits:
        keys.append("no_boundaries" if scene == "charm" else "capitulation")
    if scene == "repair":
        for name in ("subject_change", "rush_forgive"):
            if name in tf.hits:
                keys.append(name)
    if scene == "charm":
        if "eager" in tf.hits or tf.text.count("!") + tf.text.count("！") >= 3:
            keys.append("eager")
        if "flattery" in tf.hits:
            keys.append("flattery")
    elif "flattery" in tf.hits:
        keys.append("flattery")
    return list(dict.fromkeys(keys))


def _points(key: str, scene: str) -> tuple[Points, bool]:
    trigger = SCENE_TRIGGERS[scene].get(key)
    if trigger is not None:
        return trigger, True
    return ALWAYS_FAULTS.get(key, (1.0, 1.0)), False


@dataclass(frozen=True, slots=True)
class Profile:
    """What later turns need to know about an earlier agent message, judged on its own."""

    tactics: frozenset[str]
    good: bool
    small_talk: bool
    apologised: bool
    caved: bool


@lru_cache(maxsize=16384)
def turn_profile(text: str, lang: str, scene: str) -> Profile:
    """The :class:`Profile` of an earlier agent message (cached: it is read at every step)."""
    tf = text_features(text, lang)
    goods = _good_base(tf, scene)
    faults = _fault_keys(tf, scene)
    good_pts = sum(a + t for a, t in goods.values())
    bad_pts = sum(sum(_points(k, scene)[0]) for k in faults)
    small = ("bland" in tf.hits or "subject_change" in tf.hits) and not goods
    return Profile(tactics=frozenset(goods), good=good_pts > bad_pts and good_pts > 0,
                   small_talk=small, apologised="apology" in tf.hits,
                   caved="capitulation" in tf.hits)


def _novelty_credit(novelty: float) -> float:
    for floor, credit in NOVELTY_CREDIT:
        if novelty >= floor:
            return credit
    return 0.0


def _round_half_up(value: float) -> int:
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def judge(*, scene: str, lang: str, state: State, round_no: int, max_rounds: int,
          agent_text: str, earlier_agent: Sequence[str], user_turns: Sequence[str],
          situation: frozenset[str] = frozenset()) -> Verdict:
    """Score one agent turn against the rubric.

    Args:
        scene: support, defense, repair or charm.
        lang: "en" or "zh".
        state: the user's state before this turn.
        round_no: this agent turn's number, from 1.
        max_rounds: the scenario's round limit.
        agent_text: the agent's spoken words this turn.
        earlier_agent: the agent's earlier messages, oldest first.
        user_turns: everything the user said so far (opening line included), oldest first.
        situation: the situation's topic tokens (:func:`features.situation_tokens`).
    """
    tf = text_features(agent_text, lang)
    earlier_tf = [text_features(t, lang) for t in earlier_agent]
    user_tf = [tokens_of(user_turns[-1], lang)] if user_turns else []
    ctx = context_features(tf, earlier_tf, user_tf, situation)
    profiles = [turn_profile(t, lang, scene) for t in earlier_agent]
    notes: list[str] = []

    # Good moves, with decay for tactics already used.
    base = _good_base(tf, scene)
    if ctx.specific >= SPECIFIC_MIN[lang] and ctx.echo < ECHO_LIMIT:
        share = 1.0 if ctx.specific >= SPECIFIC_FULL[lang] else 0.5
        a_pts, t_pts = SPECIFIC_POINTS[scene]
        base["specific"] = (a_pts * share, t_pts * share)
    uses = Counter(key for profile in profiles for key in profile.tactics)
    good: list[Signal] = []
    spent: list[str] = []
    for key, (a, t) in base.items():
        n = uses.get(key, 0)
        if key in CONTENT_TACTICS:
            factor = 1.0 if n == 0 else _novelty_credit(ctx.novelty)
            note = ("" if factor == 1.0
                    else f"used before with little new content, {factor:.0%} credit")
        else:
            factor = DECAY[min(n, len(DECAY) - 1)]
            note = "" if n == 0 else f"used before, {factor:.0%} credit"
        if factor == 0:
            spent.append(key)
            continue
        good.append(Signal(key, a * factor, t * factor, note=note))
    if spent:
        notes.append("no credit for a tactic already used: " + ", ".join(spent))

    # Faults, with scene triggers replacing the ordinary penalty.
    keys = _fault_keys(tf, scene)
    if ctx.echo >= ECHO_LIMIT:
        keys.append("echo")
    if ctx.repeat >= REPEAT_LIMIT:
        keys.append("repeat")
    if spent and not good and any(uses.get(k, 0) >= 3 for k in spent):
        keys.append("stale")
    apologised_before = any(profile.apologised for profile in profiles)
    if "apology" in tf.hits and (apologised_before or tf.hits.get("apology", 0) >= 2):
        acted = bool(tf.commitments or "alternative" in tf.hits or "prevention" in tf.hits)
        if scene == "defense" and not acted:
            keys.append("apology_again")
        first_admission = "admission" in base and uses.get("admission", 0) == 0
        if scene == "repair" and apologised_before and not (acted or first_admission):
            keys.append("apology_again")
    if scene == "defense":
        held = any("boundary" in profile.tactics for profile in profiles)
        caved = any(profile.caved for profile in profiles)
        if (held and "capitulation" in tf.hits) or (caved and "boundary" in base):
            keys.append("contradiction")
    substantive = any(key != "warmth" for key in base)
    small_now = ("bland" in tf.hits or "subject_change" in tf.hits) and not substantive
    if scene == "charm" and "bland" in tf.hits and not substantive:
        keys.append("bland")
    if tf.injected:
        keys.append("injection")
    bad: list[Signal] = []
    for key in dict.fromkeys(keys):
        (a, t), trigger = _points(key, scene)
        bad.append(Signal(key, a, t, trigger))

    # Manipulation and recycled content earn less; a hot temper biases toward penalties.
    if tf.injected:
        good = [s.scaled(0.5, "halved: message tried to steer the simulator") for s in good]
    if good and earlier_tf and ctx.novelty < LOW_NOVELTY:
        good = [s if s.key in CONTENT_TACTICS else s.scaled(0.5, "halved: little that is new")
                for s in good]
        notes.append(f"little new content (novelty {ctx.novelty:.2f})")
    streak = 0
    for profile in reversed(profiles):
        if not profile.good:
            break
        streak += 1
    # Consistency is what opens people up: a good turn after a run of good turns counts extra.
    if (streak >= CONSISTENT_STREAK and good and not any(s.trigger for s in bad)
            and sum(s.weight for s in good) > sum(s.weight for s in bad)):
        bonus = 2.0 if streak >= 2 * CONSISTENT_STREAK else 1.0
        good.append(Signal("consistency", bonus, bonus, note=f"{streak} good turns in a row"))
    if state.anger > HOT_ANGER:
        good = [s.scaled(HOT_GOOD) for s in good]
        bad = [s.scaled(HOT_BAD) for s in bad]
        notes.append("anger above 60: biased toward penalties")
    cap = IMPROVE_CAP
    if streak >= LARGE_STREAK and (scene != "support" or round_no >= SUPPORT_LARGE_FROM):
        cap = LARGE_CAP
    gain_a = min(cap, _round_half_up(sum(s.anger for s in good)))
    gain_t = min(cap, _round_half_up(sum(s.trust for s in good)))

    # After half the rounds, patience wears thin without real progress.
    if round_no > max_rounds / 2 and gain_a + gain_t < 2:
        bad.append(Signal("patience", 1.0, 0.0, note="no real progress past half time"))
    loss_a = min(10, _round_half_up(sum(s.anger for s in bad)))
    loss_t = min(10, _round_half_up(sum(s.trust for s in bad)))

    anger_delta = clip_delta(loss_a - gain_a)
    trust_delta = clip_delta(gain_t - loss_t)
    transition = apply_deltas(state, anger_delta, trust_delta)
    after = transition.after

    small_talk = small_now and bool(profiles) and profiles[-1].small_talk
    clean = not bad and bool(good)
    concrete = any(s.key in {"commitment", "prevention", "specific", "boundary_alt", "cause"}
                   for s in good)
    satisfied = (clean and concrete and streak + 1 >= STOP_STREAK and round_no > PROBE_UNTIL
                 and after.anger <= STOP_ANGER and after.trust >= STOP_TRUST)
    return Verdict(good=tuple(good), bad=tuple(bad), anger_delta=anger_delta,
                   trust_delta=trust_delta, improvement=max(gain_a, gain_t),
                   worsening_anger=loss_a, worsening_trust=loss_t, streak=streak, context=ctx,
                   features=tf, notes=tuple(notes), small_talk=small_talk, satisfied=satisfied,
                   transition=transition)


def band_name(magnitude: int, *, improving: bool) -> str:
    """Name the band of a delta magnitude (spec section 3)."""
    if magnitude <= 0:
        return "none"
    if improving:
        return "small" if magnitude <= 2 else "medium" if magnitude <= 5 else "large"
    return "small" if magnitude <= 4 else "medium" if magnitude <= 8 else "large"


def state_band(value: int) -> int:
    """Index 0..4 of the 20-point band ``value`` falls in (0-20 is 0, 80-100 is 4)."""
    return min(4, max(0, value) // 20)
