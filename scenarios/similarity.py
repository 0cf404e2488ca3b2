"""Near-duplicate detection between scenarios: lexical Jaccard over user-persona shingles.

Each scenario's user persona (section headings removed, lower-cased) becomes a set of shingles:
overlapping runs of ``WORD_SHINGLE`` words for English and other space-separated languages, or of
``CHAR_SHINGLE`` characters (punctuation and spaces removed) for Chinese. Two scenarios are
near-duplicates when the Jaccard similarity of their shingle sets reaches ``DEFAULT_THRESHOLD``.

All pairs are screened at once with MinHash signatures (numpy), and only the pairs whose estimate
comes near the threshold are checked with the exact Jaccard, so a few thousand scenarios take well
under a second. ``scenarios/README.md`` gives the measurements behind the threshold.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import numpy as np

from eibench.scenarios.model import Scenario

__all__ = [
    "CHAR_SHINGLE",
    "DEFAULT_THRESHOLD",
    "WORD_SHINGLE",
    "Match",
    "Shingles",
    "jaccard",
    "max_similarities",
    "near_duplicates",
    "persona_body",
    "scenario_shingles",
    "shingles",
    "uses_characters",
]

#: Jaccard similarity at or above which two user personas count as near-duplicates.
DEFAULT_THRESHOLD = 0.3
#: Words per shingle (space-separated languages).
WORD_SHINGLE = 3
#: Characters per shingle (Chinese and other unspaced scripts).
CHAR_SHINGLE = 4

_NUM_HASHES = 128
_BITS = 4
_CHUNK = 8192
# Pairs whose MinHash estimate falls this far below the threshold are still checked exactly: the
# estimate's standard error at J = 0.5 with 128 4-bit hashes is about 0.047, so this is 3 sigma.
_SCREEN_MARGIN = 0.15
#: A shingle set: sorted unique 64-bit hashes of the shingles.
Shingles: TypeAlias = np.ndarray

_HEADING_RE = re.compile(r"^\s*#{1,6}\s.*$", re.MULTILINE)
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_UNSPACED_LANGUAGES = ("zh", "ja", "ko")


@lru_cache(maxsize=1 << 17)
def _token_id(token: str) -> int:
    # crc32 is stable across processes, unlike hash(); the mixing below spreads it to 64 bits.
    return zlib.crc32(token.encode("utf-8")) + 1


def uses_characters(language: str) -> bool:
    """True for languages shingled by characters (no spaces between words)."""
    return language.lower().split("-")[0] in _UNSPACED_LANGUAGES


def persona_body(text: str) -> str:
    """The persona without its ``###`` section headings."""
    return _HEADING_RE.sub(" ", text)


def _tokens(text: str, language: str) -> list[str]:
    if uses_characters(language):
        return [ch for ch in text.lower() if ch.isalnum()]
    return _WORD_RE.findall(text.lower().replace("’", "'"))


def shingles(text: str, language: str = "en") -> Shingles:
    """The shingle set of ``text`` as sorted unique 64-bit hashes.

    Shingles are runs of ``WORD_SHINGLE`` words, or ``CHAR_SHINGLE`` characters for Chinese
    (spaces and punctuation dropped). A text shorter than one shingle gives a single shingle
    holding all of it (or none if it is empty).
    """
    tokens = _tokens(text, language)
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    ids = np.fromiter((_token_id(tok) for tok in tokens), dtype=np.uint64, count=len(tokens))
    n = CHAR_SHINGLE if uses_characters(language) else WORD_SHINGLE
    width = min(n, len(ids))
    acc = _mix(ids[:len(ids) - width + 1])
    for offset in range(1, width):
        acc = _mix(acc + ids[offset:len(ids) - width + 1 + offset])
    return np.unique(acc)


def scenario_shingles(scenario: Scenario) -> Shingles:
    """Shingles of a scenario's user persona, headings removed."""
    return shingles(persona_body(scenario.user_persona), scenario.language)


def jaccard(a: Shingles, b: Shingles) -> float:
    """|a & b| / |a | b| of two shingle sets; two empty sets count as identical."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True, slots=True)
class Match:
    """Two items (by index) whose exact Jaccard similarity reached the threshold; ``i < j``."""

    i: int
    j: int
    similarity: float


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _signatures(sets: Sequence[Shingles], seed: int) -> np.ndarray:
    """MinHash signatures, one row per set, ``_NUM_HASHES`` columns of hash minima.

    Each hash function is ``a * x mod 2**64`` with a random odd ``a`` (numpy's uint64 product
    wraps), a permutation of the already well-mixed shingle hashes.
    """
    rng = np.random.default_rng(seed)
    info = np.iinfo(np.uint64)
    a = rng.integers(0, info.max, size=_NUM_HASHES, dtype=np.uint64, endpoint=True) | np.uint64(1)
    # Hash functions along the rows and shingles along the columns, in chunks that stay in cache:
    # a reduceat along the contiguous axis is many times faster than the transposed layout.
    sigs = np.full((_NUM_HASHES, len(sets)), info.max, dtype=np.uint64)
    nonempty = [i for i, s in enumerate(sets) if len(s)]
    if not nonempty:
        return sigs.T
    ids = np.concatenate([sets[i] for i in nonempty])
    owner = np.repeat(np.asarray(nonempty), [len(sets[i]) for i in nonempty])
    for lo in range(0, len(ids), _CHUNK):
        chunk_owner = owner[lo:lo + _CHUNK]
        hashed = a[:, None] * ids[None, lo:lo + _CHUNK]
        starts = np.flatnonzero(np.r_[True, chunk_owner[1:] != chunk_owner[:-1]])
        rows = chunk_owner[starts]
        sigs[:, rows] = np.minimum(sigs[:, rows], np.minimum.reduceat(hashed, starts, axis=1))
    return np.ascontiguousarray(sigs.T)


def _estimates(sigs: np.ndarray) -> np.ndarray:
    """Estimated Jaccard for all pairs from ``_BITS``-bit MinHash, as one matrix product.

    Each hash minimum is cut to its low ``_BITS`` bits and one-hot encoded, so the dot product of
    two rows counts the positions where the cut values agree. Unrelated positions agree by chance
    with probability ``1 / 2**_BITS``; the estimate removes that bias.
    """
    n, k = sigs.shape
    buckets = 1 << _BITS
    codes = (sigs & np.uint64(buckets - 1)).astype(np.int64) + np.arange(k) * buckets
    onehot = np.zeros((n, k * buckets), dtype=np.float32)
    np.put_along_axis(onehot, codes, 1.0, axis=1)
    agree = (onehot @ onehot.T) / k
    chance = 1.0 / buckets
    return np.asarray((agree - chance) / (1.0 - chance), dtype=np.float32)


def near_duplicates(sets: Sequence[Shingles], threshold: float = DEFAULT_THRESHOLD, *,
                    seed: int = 0) -> list[Match]:
    """Every pair whose exact Jaccard similarity is at least ``threshold``, sorted by (i, j).

    Args:
        sets: shingle sets (see :func:`shingles`), compared all against all.
        threshold: the similarity to report from, in (0, 1].
        seed: seed of the MinHash permutations (the result is exact either way, barring a true
            match whose estimate falls more than ``_SCREEN_MARGIN`` below the threshold).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if len(sets) < 2:
        return []
    est = _estimates(_signatures(sets, seed))
    cand_i, cand_j = np.nonzero(np.triu(est >= threshold - _SCREEN_MARGIN, k=1))
    matches = []
    for i, j in zip(cand_i.tolist(), cand_j.tolist(), strict=True):
        sim = jaccard(sets[i], sets[j])
        if sim >= threshold:
            matches.append(Match(i, j, sim))
    return matches


def max_similarities(sets: Sequence[Shingles], *, seed: int = 0) -> list[tuple[int, float]]:
    """For each set, its most similar other set (index) and the exact Jaccard with it.

    The nearest neighbour is chosen by the MinHash estimate among the five best candidates, then
    measured exactly; used for the threshold measurements in ``scenarios/README.md``.
    """
    n = len(sets)
    if n < 2:
        return [(-1, 0.0)] * n
    est = _estimates(_signatures(sets, seed))
    np.fill_diagonal(est, -1.0)
    best: list[tuple[int, float]] = []
    top = min(5, n - 1)
    for i in range(n):
        candidates = np.argpartition(-est[i], top - 1)[:top]
        scored = [(int(j), jaccard(sets[i], sets[int(j)])) for j in candidates]
        best.append(max(scored, key=lambda item: item[1]))
    return best
