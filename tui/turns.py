"""How one recorded turn looks: the words, the state after it, coloured deltas, think/reflection.

Shared by the dialogue screen and the play screen. The think block and the reflection are their
own widgets, hidden unless an ancestor has the ``show-think`` / ``show-reflection`` class; the
state line is hidden under an ancestor with ``hide-state`` (play mode keeps the state secret).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from eibench.harness.store import TurnRecord
from eibench.tui.chart import ANGER_STYLE, BAD_STYLE, GOOD_STYLE, TRUST_STYLE

MUTED = "#8a8a8a"


def fmt_score(score: float | None) -> str:
    """A score as the reports print it: 100 x score with a sign, or a dash when there is none."""
    return "–" if score is None else f"{100 * score:+.1f}"


def delta_style(delta: int | None, *, lower_is_better: bool) -> str:
    """Green when the change is good for the agent, red when bad, muted when none."""
    if not delta:
        return MUTED
    good = delta < 0 if lower_is_better else delta > 0
    return GOOD_STYLE if good else BAD_STYLE


def _axis(text: Text, name: str, value: int | None, delta: int | None, raw: int | None,
          *, lower_is_better: bool, name_style: str) -> None:
    text.append(f"{name} ", style=name_style)
    text.append("?" if value is None else str(value), style="bold")
    if delta is not None:
        text.append(f" {delta:+d}", style=delta_style(delta, lower_is_better=lower_is_better))
        if raw is not None and raw != delta:
            text.append(f" (asked {raw:+d})", style=MUTED)


def state_text(turn: TurnRecord) -> Text:
    """``anger 62 -3  trust 40 +2`` after a simulator update; the start state for the opening."""
    text = Text()
    _axis(text, "anger", turn.anger_after, turn.anger_delta if turn.round else None,
          turn.anger_delta_raw, lower_is_better=True, name_style=ANGER_STYLE)
    text.append("   ")
    _axis(text, "trust", turn.trust_after, turn.trust_delta if turn.round else None,
          turn.trust_delta_raw, lower_is_better=False, name_style=TRUST_STYLE)
    if turn.round == 0:
        text.append("   (start)", style=MUTED)
    if turn.keep_going is False:
        reason = f": {turn.stop_reason}" if turn.stop_reason else ""
        text.append(f"   ends the conversation{reason}", style=MUTED)
    return text


def head_text(turn: TurnRecord, *, agent_label: str = "Agent", user_label: str = "User") -> Text:
    """``Agent · round 2`` / ``User · opening line``."""
    if turn.speaker == "agent":
        text = Text(agent_label, style=f"bold {TRUST_STYLE}")
    else:
        text = Text(user_label, style=f"bold {ANGER_STYLE}")
    text.append(" · ", style=MUTED)
    text.append("opening line" if turn.round == 0 else f"round {turn.round}", style=MUTED)
    return text


class TurnView(Vertical):
    """One turn of a dialogue."""

    DEFAULT_CSS = """
    TurnView { height: auto; padding: 0 1; margin: 0 0 1 0; }
    TurnView .think, TurnView .reflection { display: none; color: $text-muted; }
    """

    def __init__(self, turn: TurnRecord, *, agent_label: str = "Agent",
                 user_label: str = "User", empty_think: bool = True) -> None:
        super().__init__(classes=f"turn {turn.speaker}")
        self.turn = turn
        self.agent_label = agent_label
        self.user_label = user_label
        self.empty_think = empty_think

    def compose(self) -> ComposeResult:
        turn = self.turn
        yield Static(head_text(turn, agent_label=self.agent_label, user_label=self.user_label),
                     classes="head")
        yield Static(Text(turn.text), classes="words")
        if turn.speaker == "agent" and (turn.think or self.empty_think):
            think = Text("think: ", style=f"italic {MUTED}")
            think.append(turn.think or "(none)", style="italic")
            yield Static(think, classes="think")
        elif turn.speaker == "user":
            yield Static(state_text(turn), classes="state")
            if turn.round:
                reflection = Text("reflection: ", style=f"italic {MUTED}")
                reflection.append(turn.reflection or "(none)", style="italic")
                yield Static(reflection, classes="reflection")
