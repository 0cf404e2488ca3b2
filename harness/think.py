"""Split an agent's output into its private think block and its spoken words."""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_BLOCK = re.compile(r"<think(?:ing)?>(.*?)</think(?:ing)?>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class SplitOutput:
    """An agent output taken apart.

    Attributes:
        think: the reasoning (empty if there was none).
        text: the spoken words only; this and nothing else reaches the simulator.
        has_think: a think block was present (possibly empty).
        malformed: broken tags (an unclosed or stray tag), an empty think block, or no words.
    """

    think: str
    text: str
    has_think: bool
    malformed: bool


def split_think(output: str, reasoning: str = "") -> SplitOutput:
    """Separate ``<think>...</think>`` (or a provider's reasoning field) from the spoken words.

    An unclosed ``<think>`` swallows the rest of the output as think, which leaves no words: the
    turn is malformed. A stray ``</think>`` with no opening tag (some chat templates put the
    opening tag in the prompt) counts the text before it as think.
    """
    thinks: list[str] = [reasoning.strip()] if reasoning.strip() else []
    malformed = False
    rest = output
    blocks = _BLOCK.findall(rest)
    if blocks:
        thinks.extend(b.strip() for b in blocks)
        malformed = any(not b.strip() for b in blocks)
        rest = _BLOCK.sub("", rest)
    head_tail = _OPEN.split(rest, maxsplit=1)
    if len(head_tail) == 2:
        rest, tail = head_tail
        thinks.append(_CLOSE.sub("", tail).strip())
        malformed = True
    elif _CLOSE.search(rest):
        head, rest = _CLOSE.split(rest, maxsplit=1)
        thinks.append(head.strip())
        rest = _CLOSE.sub("", rest)
        blocks.append(head)
    text = rest.strip()
    has_think = bool(blocks) or bool(reasoning.strip()) or len(head_tail) == 2
    if not text:
        malformed = True
    return SplitOutput(think="\n\n".join(t for t in thinks if t), text=text, has_think=has_think,
                       malformed=malformed)
