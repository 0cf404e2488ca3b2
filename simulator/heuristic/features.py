"""What the heuristic simulator notices in a message: counts, shapes and overlaps.

:func:`text_features` looks at one message on its own and is cached, so an earlier turn that is
read again at every later step costs a dictionary lookup. :func:`context_features` compares the
current message with the dialogue so far (echo, repetition, specificity, novelty).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from eibench.simulator.heuristic.lexicon import (
    EN_STOPWORDS,
    ZH_STOPCHARS,
    compiled,
    injection_lexicon,
)
from eibench.simulator.heuristic.matching import Probe, probe

LANGUAGES = ("en", "zh")

_SENTENCE_RE = re.compile(r"[^.!?。！？…\n]*[.!?。！？…]+|[^.!?。！？…\n]+|\n")
_SENTENCE_BODY_RE = re.compile(r"[^.!?。！？…;；\n]*[A-Za-z0-9\u4e00-\u9fff][^.!?。！？…;；\n]*")
_MARKDOWN_MARKS = ("#", "**", "__", "|", "`", ">")
_ENUM_MARKS = {"en": ("irst", "econd", "hird", "inally", "astly", "IRST", "ECOND"),
               "zh": ("首先", "其次", "第一", "第二", "第三")}
_STAGE_MARKS = ("(", "[", "*", "（", "【")
# Chat-template markup: a whole <|im_start|> ... <|im_end|> block, or a stray tag.
_CHAT_MARKUP_RE = re.compile(r"<\|im_start\|>.*?(?:<\|im_end\|>|$)|<\|[a-z_]{1,20}\|>",
                             re.DOTALL | re.IGNORECASE)
_JSON_RE = re.compile(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
_LIST_RE = re.compile(r"^\s*(?:[-*•·●▪]\s+|\d{1,2}[.)、]\s*|[（(]\d{1,2}[)）]\s*|[a-h][.)]\s+"
                      r"|[一二三四五六七八九十][、.]\s*)\S", re.MULTILINE)
_MARKDOWN_RE = re.compile(r"^\s*#{1,6}\s|\*\*[^*\n]+\*\*|__[^_\n]+__|^\s*\|.*\|\s*$|`[^`\n]+`"
                          r"|^\s*>\s", re.MULTILINE)
_ENUM_RE = {
    "en": re.compile(r"\b(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|finally|lastly)\s*,",
                     re.IGNORECASE),
    "zh": re.compile(r"首先|其次|第一[，,、]|第二[，,、]|第三[，,、]"),
}
_STAGE_RE = {
    "en": re.compile(
        r"[(\[*]\s*(?:[a-z]+ly )?(?:smil|sigh|nod|paus|laugh|lean|look|glanc|hug|chuckl|grin|"
        r"shrug|wink|take|takes|breath|clear|soft|gentl|quiet|whisper|tear|cr[yi]|reach|sit|stand|"
        r"walk|hold|touch|pat|smirk|blush|frown|voice|tone|hand|eyes|step)[^)\]*\n]{0,50}[)\]*]",
        re.IGNORECASE),
    "zh": re.compile(
        r"[（(【\[*][^）)】\]*\n]{0,12}(?:微笑|笑|叹|点头|沉默|停顿|轻声|温柔|拍|看着|低头|抱|握|语气|声音|眼神|"
        r"深吸|摇头|皱眉|顿了|递|靠近|哽咽|眨)[^）)】\]*\n]{0,20}[）)】\]*]"),
}
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]+")
_DIGITS_RE = re.compile(r"\d+")
_QUESTION_RE = re.compile(r"[?？]")
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """What one message shows on its own.

    Attributes:
        lang: "en" or "zh".
        text: the message with injected instructions removed.
        injected: True when something that addresses the simulator itself was removed.
        sentences: number of sentences (lines count as breaks).
        size: words (en) or Chinese characters (zh).
        list_lines: bulleted or numbered lines, plus "firstly/secondly" enumerations.
        markdown: headings, bold, tables, code or quotes.
        stage: bracketed stage directions such as "(smiles)".
        hits: matches per lexicon feature (see :mod:`lexicon`); absent means zero.
        questions: question marks.
        open_questions: sentences that ask an open question (what, how, when ...).
        commitments: sentences with a first-person action tied to a time or a number.
        content: topic-bearing tokens (word stems in en, character bigrams in zh) for overlap.
        shingles: word trigrams (en) or character trigrams (zh) for spotting echoed phrasing.
    """

    lang: str
    text: str
    injected: bool
    sentences: int
    size: int
    list_lines: int
    markdown: int
    stage: int
    hits: Mapping[str, int]
    questions: int
    open_questions: int
    commitments: int
    content: frozenset[str]
    shingles: frozenset[str]

    def has(self, name: str) -> bool:
        """True when the lexicon feature ``name`` matched at least once."""
        return self.hits.get(name, 0) > 0

    def count(self, name: str) -> int:
        """Matches of the lexicon feature ``name``."""
        return self.hits.get(name, 0)

    @property
    def structured(self) -> bool:
        """Bullets, numbering or markdown: anything a person would not say aloud."""
        return self.list_lines >= 2 or self.markdown > 0


@dataclass(frozen=True, slots=True)
class ContextFeatures:
    """How the current message relates to the dialogue so far.

    Attributes:
        echo: share of the message's phrasing copied from the user's last turn (0..1).
        repeat: highest similarity to one of the agent's earlier messages (0..1).
        specific: topic tokens shared with the situation (see :func:`situation_tokens`): the
            sign of a reply about this person and this situation rather than a generic one.
        novelty: share of the message's topic tokens the agent has not used before (0..1).
    """

    echo: float
    repeat: float
    specific: int
    novelty: float


def normalise_language(language: str) -> str | None:
    """Map a scenario language tag to "en" or "zh"; None when the simulator cannot speak it."""
    tag = (language or "").strip().lower().replace("_", "-")
    if tag.startswith("zh") or tag in {"cn", "chinese", "cmn"}:
        return "zh"
    if tag.startswith("en") or tag == "english":
        return "en"
    return None


def _segments(text: str) -> list[str]:
    return _SENTENCE_RE.findall(text)


def strip_injections(text: str, lang: str) -> tuple[str, bool, dict[str, list[int]], Probe]:
    """Remove JSON objects and every sentence that addresses the simulator instead of the person.

    Both languages' patterns are checked, since an English injection can appear in a Chinese
    dialogue. Chat-template blocks and JSON objects are cut out exactly; otherwise the unit
    removed is the sentence (or line), so words that share a sentence with an injection go with
    it. What remains is kept verbatim, so the rest of the message is scored as if the injected
    part had never been there. Returns what remains, whether anything was removed, and the
    lexicon matches and probe of what remains.
    """
    injected = False
    if "<|" in text:
        text, n = _CHAT_MARKUP_RE.subn(" ", text)
        injected = n > 0
    if "{" in text:
        def _drop(match: re.Match[str]) -> str:
            nonlocal injected
            if ":" in match.group(0) or "：" in match.group(0):
                injected = True
                return " "
            return match.group(0)
        text = _JSON_RE.sub(_drop, text)
    prepared = probe(text)
    found = compiled(lang).scan(prepared)
    if "injection" not in found:
        return text, injected, found, prepared
    lexicon = injection_lexicon()
    kept: list[str] = []
    for segment in _segments(text):
        if segment != "\n" and lexicon.scan(probe(segment)):
            injected = True
            continue
        kept.append(segment)
    clean = "".join(kept).strip()
    prepared = probe(clean)
    found = compiled(lang).scan(prepared)
    found.pop("injection", None)
    return clean, True, found, prepared


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _count_in(spans: list[tuple[int, int]], *groups: list[int]) -> int:
    """Spans that contain at least one start from every group."""
    n = 0
    for start, end in spans:
        if all(any(start <= x < end for x in g) for g in groups):
            n += 1
    return n


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:6]


def _tokens(text: str, lang: str, prepared: Probe | None = None
            ) -> tuple[frozenset[str], frozenset[str], int]:
    """(content tokens, shingles, size) of ``text``."""
    if lang == "en":
        words = (prepared or probe(text)).words
        content = frozenset({_stem(w) for w in words if len(w) > 2 and w not in EN_STOPWORDS})
        shingles = frozenset(map(" ".join, zip(words, words[1:], words[2:], strict=False)))
        return content, shingles, len(words)
    runs = _CJK_RUN_RE.findall(text)
    joined = "".join(runs)
    bigrams = {a + b for run in runs for a, b in itertools.pairwise(run)}
    topical = {b for b in bigrams if b[0] not in ZH_STOPCHARS and b[1] not in ZH_STOPCHARS}
    content = frozenset(topical | set(_DIGITS_RE.findall(text)))
    shingles = frozenset(map("".join, zip(joined, joined[1:], joined[2:], strict=False)))
    return content, shingles, len(joined)


@lru_cache(maxsize=8192)
def text_features(text: str, lang: str) -> TextFeatures:
    """Features of one message in ``lang`` ("en" or "zh"); pure and cached."""
    if lang not in LANGUAGES:
        raise ValueError(f"heuristic simulator: unsupported language {lang!r} (expected en or zh)")
    clean, injected, found, prepared = strip_injections(text, lang)
    lower = prepared.lower
    hits = {name: len(starts) for name, starts in found.items() if name != "injection"}
    sentences = _spans(_SENTENCE_BODY_RE, lower)
    commitments = 0
    if "first_action" in found and ("time" in found or "number" in found):
        when = found.get("time", []) + found.get("number", [])
        commitments = _count_in(sentences, found["first_action"], when)
    questions = len(_QUESTION_RE.findall(clean))
    open_q = 0
    if questions and "open_question" in found:
        asked = [span for span in _spans(_SENTENCE_RE, lower) if "?" in lower[span[0]:span[1]]
                 or "？" in lower[span[0]:span[1]]]
        open_q = _count_in(asked, found["open_question"])
    content, shingles, size = _tokens(clean, lang, prepared)
    list_lines = markdown = stage = 0
    if "\n" in clean:
        list_lines = len(_LIST_RE.findall(clean))
    if any(mark in clean for mark in _MARKDOWN_MARKS):
        markdown = len(_MARKDOWN_RE.findall(clean))
    if any(mark in clean for mark in _ENUM_MARKS[lang]):
        list_lines += (len(_ENUM_RE[lang].findall(clean)) // 2) * 2
    if any(mark in clean for mark in _STAGE_MARKS):
        stage = len(_STAGE_RE[lang].findall(clean))
    return TextFeatures(
        lang=lang, text=clean, injected=injected, sentences=len(sentences), size=size,
        list_lines=list_lines, markdown=markdown, stage=stage,
        hits=hits, questions=questions, open_questions=open_q, commitments=commitments,
        content=content, shingles=shingles,
    )


@dataclass(frozen=True, slots=True)
class Tokens:
    """The overlap tokens of a message: what :func:`context_features` needs of the user's turns."""

    content: frozenset[str]
    shingles: frozenset[str]


@lru_cache(maxsize=8192)
def tokens_of(text: str, lang: str) -> Tokens:
    """Topic tokens and shingles of ``text``, without the rest of the feature work."""
    content, shingles, _ = _tokens(text, lang)
    return Tokens(content=content, shingles=shingles)


@lru_cache(maxsize=1024)
def situation_tokens(lang: str, opening_line: str, user_persona: str,
                     agent_persona: str) -> frozenset[str]:
    """Topic tokens of the situation: the opening line's, and those both personas mention.

    The simulated user's later lines are canned, so the situation stands in for "what the user
    said": the opening line, and the facts both sides know (names, places, the event), which is
    what the two personas share.
    """
    shared = tokens_of(user_persona, lang).content & tokens_of(agent_persona, lang).content
    return tokens_of(opening_line, lang).content | shared


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two token sets (0 when both are empty)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def context_features(current: TextFeatures, earlier_agent: Sequence[TextFeatures],
                     user_turns: Sequence[Tokens], situation: frozenset[str]) -> ContextFeatures:
    """Relate ``current`` to the agent's earlier messages, the user's last turn (echo) and the
    situation's topic tokens (specificity)."""
    echo = 0.0
    if user_turns and len(current.shingles) >= 3:
        shared = len(current.shingles & user_turns[-1].shingles)
        echo = shared / len(current.shingles)
    repeat = 0.0
    seen: set[str] = set()
    for earlier in earlier_agent:
        repeat = max(repeat, similarity(current.content, earlier.content))
        if current.text.strip() and current.text.strip() == earlier.text.strip():
            repeat = 1.0
        seen |= earlier.content
    specific = len(current.content & situation)
    novelty = 1.0
    if current.content and seen:
        novelty = len(current.content - seen) / len(current.content)
    return ContextFeatures(echo=echo, repeat=repeat, specific=specific, novelty=novelty)


def is_chinese(text: str) -> bool:
    """True when more than a third of the letters in ``text`` are Chinese characters."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    return len(_CJK_RE.findall(text)) * 3 > len(letters)
