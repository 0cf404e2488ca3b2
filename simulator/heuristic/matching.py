"""Fast, exact matching of the lexicon's regex fragments.

Python's regex engine skips quickly through a text only when a pattern starts with known
characters; a leading ``\\b`` or a long alternation defeats that, and searching a message for
one feature then costs several microseconds. With some forty features per message that is most
of the simulator's time, so :class:`Lexicon` finds the same matches another way:

- fragments that are only a list of whole words are answered from the message's words;
- fragments that start with ``\\b`` and a known first word are tried only where that word
  occurs, anchored there (:func:`leads` reads the possible first words off the pattern);
- other fragments that start with ``\\b`` are searched for without it, the boundary checked at
  each match, and only when a substring they need is present; those that need a digit first
  are skipped when the message has none;
- the rest are searched for as written.

Whether a feature matches is exactly what searching for its fragments as written would say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

_WORD_RE = re.compile(r"\w+")
_DIGIT_RE = re.compile(r"\d")
# "\b(?:word|word|...)\b" or "\bword\b": answerable from the message's word set.
_WORD_LIST_RE = re.compile(r"\\b\(\?:([\w |]+)\)\\b|\\b(\w+)\\b")
_MAX_GATE_SUBSTRINGS = 12
_MAX_FREE_GATE = 3


@dataclass(frozen=True, slots=True)
class Probe:
    """A message prepared once for every lookup: lower-cased and split into word runs."""

    lower: str
    spans: tuple[tuple[int, str], ...]
    words: tuple[str, ...]
    word_set: frozenset[str]
    has_digit: bool


def probe(text: str) -> Probe:
    """Prepare ``text`` for :meth:`Lexicon.scan`."""
    lower = text.lower()
    spans = tuple([(m.start(), m.group()) for m in _WORD_RE.finditer(lower)])
    words = tuple([w for _, w in spans])
    return Probe(lower=lower, spans=spans, words=words, word_set=frozenset(words),
                 has_digit=_DIGIT_RE.search(lower) is not None)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _boundary(text: str, pos: int) -> bool:
    """True where ``\\b`` would match at ``pos`` in ``text``."""
    before = pos > 0 and _is_word(text[pos - 1])
    after = pos < len(text) and _is_word(text[pos])
    return before != after


def _bounded_starts(pattern: re.Pattern[str], lower: str, *, first_only: bool = False) -> list[int]:
    """Starts of the non-overlapping matches of ``pattern`` that begin on a word boundary."""
    starts: list[int] = []
    pos = 0
    while pos <= len(lower):
        match = pattern.search(lower, pos)
        if match is None:
            break
        start, end = match.span()
        if _boundary(lower, start):
            starts.append(start)
            if first_only:
                break
            pos = end if end > start else start + 1
        else:
            pos = start + 1
    return starts


def _structure(pattern: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, char, depth after it) for each ``(``, ``)`` and ``|`` outside escapes and classes."""
    depth = 0
    i = start
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _class_end(pattern, i) + 1
            continue
        if ch in "()|":
            depth += {"(": 1, ")": -1, "|": 0}[ch]
            yield i, ch, depth
        i += 1


def _group_end(pattern: str, start: int) -> int:
    for i, ch, depth in _structure(pattern, start):
        if ch == ")" and depth == 0:
            return i
    raise ValueError(f"unbalanced group in {pattern!r}")


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    raise ValueError(f"unbalanced class in {pattern!r}")


def _split_top(pattern: str) -> list[str]:
    parts: list[str] = []
    last = 0
    for i, ch, depth in _structure(pattern):
        if ch == "|" and depth == 0:
            parts.append(pattern[last:i])
            last = i + 1
    parts.append(pattern[last:])
    return parts


def _quantifier(pattern: str, i: int) -> tuple[bool, int]:
    """(optional, index after) for a quantifier at ``i``; (False, i) when there is none."""
    if i >= len(pattern) or pattern[i] not in "?*+{":
        return False, i
    ch = pattern[i]
    if ch == "{":
        close = pattern.find("}", i)
        spec = re.fullmatch(r"\{(\d*)(?:,\d*)?\}", pattern[i:close + 1]) if close > 0 else None
        if spec is None:
            return False, i
        optional, end = int(spec.group(1) or 0) == 0, close + 1
    else:
        optional, end = ch in "?*", i + 1
    if end < len(pattern) and pattern[end] in "?+":
        end += 1
    return optional, end


# How a lead ends: the pattern needs a word boundary right after it, the lead is all there is
# to its alternative (what follows is decided by the enclosing pattern), or it is cut short.
BOUNDARY, WHOLE, CUT = "boundary", "whole", "cut"


_MAX_VARIANTS = 256


class _TooMany(Exception):
    """Expanding the pattern's optional parts would make too many variants to be useful."""


def leads(pattern: str) -> list[tuple[str, str]] | None:
    """Literal strings one of which every match of ``pattern`` starts with.

    Each lead comes with how it ends (``BOUNDARY``, ``WHOLE`` or ``CUT``). None when no such list
    can be read off the pattern (only the syntax the lexicon uses is understood), or when it
    would be too long to be of use.
    """
    budget = [_MAX_VARIANTS]
    try:
        return _union(_split_top(pattern), budget)
    except _TooMany:
        return None


def _sequence_leads(seq: str, budget: list[int]) -> list[tuple[str, str]] | None:
    """Leads of one alternative. Optional characters and groups at the front are expanded into
    the alternatives they allow; reading stops as soon as the first word is settled."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooMany
    run: list[str] = []
    i = 0
    while i < len(seq):
        if run and not _is_word(run[-1]) and any(_is_word(c) for c in run):
            return [("".join(run), CUT)]
        ch = seq[i]
        if ch == "\\":
            nxt = seq[i + 1] if i + 1 < len(seq) else ""
            if nxt == "b" and run:
                return [("".join(run), BOUNDARY)]
            if not nxt or nxt.isalnum():
                break
            j = i + 2
            literal = nxt
        elif ch == "(":
            end = _group_end(seq, i)
            optional, after = _quantifier(seq, end + 1)
            body = seq[i + 1:end]
            if not body.startswith("?:") or (after != end + 1 and not optional):
                break
            variants = [seq[:i] + alt + seq[after:] for alt in _split_top(body[2:])]
            if optional:
                variants.append(seq[:i] + seq[after:])
            return _union(variants, budget)
        elif ch == "[":
            end = _class_end(seq, i)
            members = seq[i + 1:end].replace("\\", "")
            if not members or members[0] == "^" or any(_is_word(c) for c in members):
                break
            j = end + 1
            literal = " "  # stands for any of the class's non-word characters
        elif ch in ".^$)|?*+{":
            break
        else:
            j = i + 1
            literal = ch
        optional, after = _quantifier(seq, j)
        if optional:
            if after != j + 1:
                break
            return _union([seq[:j] + seq[after:], seq[:i] + seq[after:]], budget)
        if after != j:
            run.append(literal)
            break
        run.append(literal)
        i = after
    if not run:
        return None
    return [("".join(run), WHOLE if i >= len(seq) else CUT)]


def _union(variants: list[str], budget: list[int]) -> list[tuple[str, str]] | None:
    found: list[tuple[str, str]] = []
    for variant in variants:
        part = _sequence_leads(variant, budget)
        if part is None:
            return None
        found.extend(part)
    return found


def _substring_gate(fragments: list[str], limit: int = _MAX_GATE_SUBSTRINGS
                    ) -> tuple[str, ...] | None:
    """Substrings one of which must occur for any of ``fragments`` to match, or None."""
    found: set[str] = set()
    for fragment in fragments:
        lead_list = leads(fragment)
        if lead_list is None:
            return None
        for lead, _ in lead_list:
            head = _WORD_RE.match(lead)
            found.add(head.group() if head else lead)
    kept = tuple(sorted(s for s in found if not any(o != s and o in s for o in found)))
    return kept if len(kept) <= limit else None


def _join(parts: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts), re.MULTILINE)


Searched = tuple[str, re.Pattern[str], tuple[str, ...] | None]
Anchored = tuple[tuple[str, re.Pattern[str]], ...]


class Lexicon:
    """Every feature of one language, compiled for a single pass over a message."""

    def __init__(self, table: Mapping[str, tuple[str, ...]],
                 positioned: frozenset[str] | None = None) -> None:
        """Compile ``table`` (feature -> fragments).

        Args:
            table: the fragments of each feature.
            positioned: features whose every match :meth:`scan` must report; for the others it
                may stop at the first (None: report every match of every feature).
        """
        words: dict[str, list[str]] = {}
        anchored: dict[str, dict[str, list[str]]] = {}
        loose: dict[str, list[str]] = {}
        digit: dict[str, list[str]] = {}
        free: dict[str, list[str]] = {}
        for feature, fragments in table.items():
            for fragment in fragments:
                listed = _WORD_LIST_RE.fullmatch(fragment)
                if listed:
                    options = (listed.group(1) or listed.group(2)).split("|")
                    for option in options:
                        if _WORD_RE.fullmatch(option):
                            words.setdefault(option, []).append(feature)
                    rest = [o for o in options if not _WORD_RE.fullmatch(o)]
                    if not rest:
                        continue
                    fragment = r"\b(?:" + "|".join(rest) + r")\b"
                if not fragment.startswith(r"\b"):
                    free.setdefault(feature, []).append(fragment)
                    continue
                core = fragment[2:]
                if core.startswith(r"\d"):
                    digit.setdefault(feature, []).append(core)
                    continue
                firsts = _exact_first_words(core)
                if firsts is None:
                    loose.setdefault(feature, []).append(core)
                    continue
                for word in firsts:
                    anchored.setdefault(word, {}).setdefault(feature, []).append(core)
        self.features = tuple(table)
        self._every = frozenset(table) if positioned is None else positioned
        # One lookup per word of the message: the features it is listed in, and the anchored
        # patterns to try where it occurs.
        self._by_word: dict[str, tuple[tuple[str, ...], Anchored]] = {
            w: (tuple(dict.fromkeys(words.get(w, ()))),
                tuple((f, _join(cores)) for f, cores in anchored.get(w, {}).items()))
            for w in set(words) | set(anchored)}
        self._loose: tuple[Searched, ...] = tuple(
            (f, _join(cores), _substring_gate(cores)) for f, cores in loose.items())
        self._digit = tuple((f, _join(cores)) for f, cores in digit.items())
        # A regex whose fragments start with literals is already quick to search; a gate of
        # many substrings would cost more than it saves.
        self._free: tuple[Searched, ...] = tuple(
            (f, _join(frags), _substring_gate(frags, limit=_MAX_FREE_GATE))
            for f, frags in free.items())

    def scan(self, p: Probe) -> dict[str, list[int]]:
        """Start offsets of each feature's matches, sorted; features with no match are absent.

        Features outside ``positioned`` may report only their first match found.
        """
        found: dict[str, set[int]] = {}
        every = self._every
        lower = p.lower
        by_word = self._by_word
        for pos, word in p.spans:
            entry = by_word.get(word)
            if entry is None:
                continue
            listed, anchored = entry
            for feature in listed:
                found.setdefault(feature, set()).add(pos)
            for feature, pattern in anchored:
                if (feature in every or feature not in found) and pattern.match(lower, pos):
                    found.setdefault(feature, set()).add(pos)
        for feature, pattern, gate in self._loose:
            if (feature in found and feature not in every) or (
                    gate is not None and not any(s in lower for s in gate)):
                continue
            starts = _bounded_starts(pattern, lower, first_only=feature not in every)
            if starts:
                found.setdefault(feature, set()).update(starts)
        if p.has_digit:
            for feature, pattern in self._digit:
                if feature in found and feature not in every:
                    continue
                starts = _bounded_starts(pattern, lower, first_only=feature not in every)
                if starts:
                    found.setdefault(feature, set()).update(starts)
        for feature, pattern, gate in self._free:
            if (feature in found and feature not in every) or (
                    gate is not None and not any(s in lower for s in gate)):
                continue
            if feature in every:
                starts = [m.start() for m in pattern.finditer(lower)]
            else:
                match = pattern.search(lower)
                starts = [match.start()] if match else []
            if starts:
                found.setdefault(feature, set()).update(starts)
        return {feature: sorted(positions) for feature, positions in found.items()}


def _exact_first_words(core: str) -> frozenset[str] | None:
    """The words a bounded fragment can start with, when each is sure to be a whole word."""
    lead_list = leads(core)
    if lead_list is None:
        return None
    firsts: set[str] = set()
    for lead, state in lead_list:
        head = _WORD_RE.match(lead.lower())
        if head is None:
            return None
        word = head.group()
        if not (state == BOUNDARY or len(word) < len(lead)):
            return None
        firsts.add(word)
    return frozenset(firsts)


class PlainLexicon:
    """The same features searched for the plain way: one regex per feature, run as written.

    The slow reference :class:`Lexicon` must agree with (tests), and the naive baseline of the
    benchmark.
    """

    def __init__(self, table: Mapping[str, tuple[str, ...]],
                 positioned: frozenset[str] | None = None) -> None:
        """Compile ``table`` (feature -> fragments).

        Args:
            table: the fragments of each feature.
            positioned: features whose every match :meth:`scan` must report; for the others it
                may stop at the first (None: report every match of every feature).
        """
        self._patterns = {feature: _join(list(fragments)) for feature, fragments in table.items()}

    def features(self, text: str) -> set[str]:
        """The features that match ``text`` (lower-cased first, like :meth:`Lexicon.scan`)."""
        lower = text.lower()
        return {f for f, pattern in self._patterns.items() if pattern.search(lower) is not None}
