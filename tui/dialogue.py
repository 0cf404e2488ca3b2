"""One dialogue: every turn with the state after it, think and reflection on demand, the chart."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Static

from eibench.harness.store import EpisodeRow, Store, StoreError
from eibench.scenarios.model import Scenario
from eibench.tui.base import LiveScreen
from eibench.tui.chart import ANGER_STYLE, TRUST_STYLE, StateChart, chart_data
from eibench.tui.runs import score_text, status_text
from eibench.tui.turns import MUTED, TurnView


def anchors_text(scenario: Scenario) -> Text:
    """The three anchors of a scenario, one line each."""
    rows = (("start  ", scenario.start, ""), ("success", scenario.success, "#5fd75f"),
            ("failure", scenario.failure, "#ff5f5f"))
    text = Text()
    for i, (label, anchor, style) in enumerate(rows):
        if i:
            text.append("\n")
        text.append(f"{label} ", style=style or MUTED)
        text.append("anger ", style=ANGER_STYLE)
        text.append(f"{anchor.anger:>3}  ")
        text.append("trust ", style=TRUST_STYLE)
        text.append(f"{anchor.trust:>3}")
    return text


def episode_text(ep: EpisodeRow, scenario: Scenario | None, title: str) -> Text:
    """Two header lines: which scenario, then where the episode stands."""
    text = Text.assemble(("episode ", MUTED), (str(ep.id), "bold"), "  ", (ep.scenario_id, "bold"),
                         ("  ", ""), (ep.scene, MUTED))
    if title:
        text.append(f"  “{title}”")
    text.append("\n")
    text.append_text(status_text(ep.status))
    if ep.termination_reason:
        text.append(f"  ended {ep.termination_reason}", style=MUTED)
    text.append(f"  rounds {ep.rounds}", style=MUTED)
    if scenario is not None:
        text.append("  anger ", style=ANGER_STYLE)
        text.append(f"{scenario.start.anger} → {'?' if ep.anger is None else ep.anger}")
        text.append("  trust ", style=TRUST_STYLE)
        text.append(f"{scenario.start.trust} → {'?' if ep.trust is None else ep.trust}")
    text.append("  score ", style=MUTED)
    text.append_text(score_text(ep.score))
    if ep.error:
        text.append("\n")
        text.append(ep.error.strip().splitlines()[-1][:200], style="#ff5f5f")
    return text


class DialogueScreen(LiveScreen):
    """The turns of one episode, appended live as they are written."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "toggle_think", "Think"),
        Binding("r", "toggle_reflection", "Reflection"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, store: Store, episode_id: int) -> None:
        super().__init__(store)
        self.episode_id = episode_id
        self.episode = store.get_episode(episode_id)
        try:
            self.scenario: Scenario | None = store.get_scenario(self.episode.scenario_key)
        except StoreError:
            self.scenario = None
        self.title_text = self.scenario.title if self.scenario else ""
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="dialogue-info", classes="info")
        with Horizontal(id="dialogue-body"):
            yield VerticalScroll(id="transcript")
            with Vertical(id="dialogue-side"):
                yield StateChart(id="chart")
                yield Static(anchors_text(self.scenario) if self.scenario else
                             Text("(the scenario's anchors are not in the store)", style=MUTED),
                             id="anchors")
                yield Static(id="toggles", classes="info")
        yield Footer()

    def prepare(self) -> None:
        self.query_one("#transcript", VerticalScroll).focus()
        self._show_toggles()

    def reload(self) -> None:
        self.episode = self.store.get_episode(self.episode_id)
        turns = self.store.turns(self.episode_id)
        transcript = self.query_one("#transcript", VerticalScroll)
        if len(turns) > self.shown:
            follow = self.shown > 0 and transcript.scroll_y >= transcript.max_scroll_y - 1
            transcript.mount_all([TurnView(t) for t in turns[self.shown:]])
            self.shown = len(turns)
            if follow:
                transcript.scroll_end(animate=False)
        self.query_one("#dialogue-info", Static).update(
            episode_text(self.episode, self.scenario, self.title_text))
        self.query_one("#chart", StateChart).set_data(chart_data(turns, self.scenario))

    def _show_toggles(self) -> None:
        think = self.has_class("show-think")
        reflection = self.has_class("show-reflection")
        self.query_one("#toggles", Static).update(Text.assemble(
            ("t", "bold"), (" think ", MUTED), ("shown" if think else "hidden"),
            ("   r", "bold"), (" reflection ", MUTED), ("shown" if reflection else "hidden")))

    def action_toggle_think(self) -> None:
        self.toggle_class("show-think")
        self._show_toggles()

    def action_toggle_reflection(self) -> None:
        self.toggle_class("show-reflection")
        self._show_toggles()

    def action_back(self) -> None:
        self.app.pop_screen()
