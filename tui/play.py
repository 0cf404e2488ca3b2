"""``eibench play``: you are the agent. Pick a scenario, read your persona, type your replies.

A play-through is an ordinary run (agent ``human``, one episode) played by the shared dialogue loop
(:func:`eibench.harness.runner.play_episode`) and recorded turn by turn in the store, so reports,
the TUI and the trainer read it like any other. The human agent is a
:class:`~eibench.harness.agents.FunctionAgent` whose function waits for the next line typed in the
input box. The user's state stays hidden until the end unless ``reveal_state`` is set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker

from eibench.harness.agents import FunctionAgent
from eibench.harness.loop import DialogueResult
from eibench.harness.runner import RunConfig, create_run, play_episode
from eibench.harness.store import EpisodeRow, Store, StoreError
from eibench.harness.think import split_think
from eibench.scenarios.model import Scenario
from eibench.simulator.types import Simulator, Utterance
from eibench.tui.chart import ANGER_STYLE, TRUST_STYLE, StateChart, chart_data
from eibench.tui.runs import score_text
from eibench.tui.tables import OpenTable
from eibench.tui.turns import MUTED, TurnView

HUMAN_AGENT = "human"
#: seconds between two looks at the store for turns to show while the simulator answers
REFRESH_INTERVAL = 0.25


def run_name(store: Store, now: float | None = None) -> str:
    """``play-YYYYmmdd-HHMMSS`` (local time), with a suffix if that name is taken."""
    base = "play-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    taken = {run.name for run in store.list_runs()}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


class PlayApp(App[None]):
    """The play mode.

    Args:
        store: a writable store; the caller opens and closes it.
        scenarios: what the picker offers.
        simulator: the simulated user.
        scenario_id: play this one at once (no picker); leaving it quits.
        reveal_state: show the state and the chart after every turn instead of only at the end.
        pack, official: the scenario source, recorded in the run's configuration.
        seed: the episode seed.
    """

    CSS_PATH = "app.tcss"
    TITLE = "eibench play"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False)]

    def __init__(self, store: Store, scenarios: Sequence[Scenario], simulator: Simulator, *,
                 scenario_id: str | None = None, reveal_state: bool = False,
                 pack: str | None = None, official: str | None = None, seed: int = 0) -> None:
        super().__init__()
        self.store = store
        self.scenarios = list(scenarios)
        self.simulator = simulator
        self.scenario_id = scenario_id
        self.reveal_state = reveal_state
        self.pack = pack
        self.official = official
        self.seed = seed

    def on_mount(self) -> None:
        self.sub_title = f"{self.store.path.name} · simulator {self.simulator.name}"
        if self.scenario_id is not None:
            chosen = next(s for s in self.scenarios if s.id == self.scenario_id)
            self.push_screen(PlayScreen(chosen, standalone=True))
        else:
            self.push_screen(PickerScreen())

    async def on_unmount(self) -> None:
        # an LLM simulator's HTTP client lives on this event loop: close it here
        close = getattr(self.simulator, "aclose", None)
        if close is not None:
            await close()

    def config_for(self, scenario: Scenario) -> RunConfig:
        """The recorded configuration of one play-through."""
        return RunConfig(agent=HUMAN_AGENT, simulator=self.simulator.name, pack=self.pack,
                         official=self.official, split=None, ids=[scenario.id], concurrency=1,
                         seed=self.seed, extra={"mode": "play",
                                                "reveal_state": self.reveal_state})


class PickerScreen(Screen[None]):
    """The scenarios to choose from, with a search on id and title."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("slash", "search", "Search"), Binding("escape", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="picker-info", classes="info")
        yield Input(placeholder="search scenario id or title", id="picker-search")
        yield OpenTable(id="picker")
        yield Footer()

    @property
    def play_app(self) -> PlayApp:
        assert isinstance(self.app, PlayApp)
        return self.app

    def on_mount(self) -> None:
        table = self.query_one("#picker", DataTable)
        for key, label in (("id", "Scenario"), ("scene", "Scene"), ("lang", "Lang"),
                           ("title", "Title")):
            table.add_column(label, key=key)
        self.show("")
        table.focus()

    def show(self, search: str) -> None:
        needle = search.strip().lower()
        table = self.query_one("#picker", DataTable)
        table.clear()
        shown = [s for s in self.play_app.scenarios
                 if not needle or needle in s.id.lower() or needle in s.title.lower()]
        for s in shown:
            table.add_row(Text(s.id), Text(s.scene.value), Text(s.language), Text(s.title),
                          key=s.id)
        self.query_one("#picker-info", Static).update(Text.assemble(
            ("You are the agent. ", "bold"),
            (f"Pick one of {len(shown)} scenario{'s' if len(shown) != 1 else ''} and press Enter; "
             "you will read your persona, then talk with the simulated user.", MUTED)))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#picker", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#picker-search", Input).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        chosen = next(s for s in self.play_app.scenarios if s.id == event.row_key.value)
        self.app.push_screen(PlayScreen(chosen))


class PlayScreen(Screen[None]):
    """One play-through: the transcript, the input box, your persona, and at the end the score."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave", "Leave"),
                Binding("ctrl+r", "toggle_reflection", "Reflection")]

    def __init__(self, scenario: Scenario, *, standalone: bool = False) -> None:
        super().__init__(classes="show-think")
        self.scenario = scenario
        self.standalone = standalone
        self.run_id: str | None = None
        self.episode: EpisodeRow | None = None
        self.result: DialogueResult | None = None
        self.over = False
        self.shown = 0
        self._line: asyncio.Future[str] | None = None
        self._worker: Worker[None] | None = None

    @property
    def play_app(self) -> PlayApp:
        assert isinstance(self.app, PlayApp)
        return self.app

    def compose(self) -> ComposeResult:
        s = self.scenario
        yield Header()
        with Horizontal(id="play-body"):
            with Vertical(id="play-main"):
                yield Static(Text.assemble((s.title or s.id, "bold"), ("  ", ""), (s.id, MUTED),
                                           ("  ", ""), (s.scene.value, MUTED)),
                             id="play-info", classes="info")
                yield VerticalScroll(id="play-transcript")
                yield Static(id="play-status")
                yield Input(placeholder="What do you say? (Enter sends; an optional "
                                        "<think>...</think> first stays private)",
                            id="play-input", disabled=True)
            with VerticalScroll(id="play-side"):
                yield Static(id="play-result")
                yield StateChart(id="play-chart")
                yield Static("Your persona (the agent)", id="persona-title")
                yield Static(Text(s.agent_persona), id="persona")
        yield Footer()

    def on_mount(self) -> None:
        if self.play_app.reveal_state:
            self.add_class("revealed")
        else:
            self.add_class("hide-state")
        self._status("Opening the conversation…")
        self.set_interval(REFRESH_INTERVAL, self._refresh)
        self._worker = self._play()

    # -- the dialogue ----------------------------------------------------------------------------

    @work(exclusive=True, group="play", exit_on_error=False)
    async def _play(self) -> None:
        app = self.play_app
        store = app.store
        try:
            run = create_run(store, app.config_for(self.scenario), [self.scenario],
                             simulator=app.simulator, name=run_name(store))
        except StoreError as exc:
            self._status(f"Cannot record the play-through: {exc}")
            return
        self.run_id = run.id
        self.episode = store.episodes(run.id)[0]
        agent = FunctionAgent(self._ask, name=HUMAN_AGENT)
        try:
            self.result = await play_episode(store, self.episode, agent, app.simulator)
        except asyncio.CancelledError:
            store.set_run_status(run.id, "interrupted")
            raise
        store.set_run_status(run.id, "finished")
        self._end()

    async def _ask(self, scenario: Scenario, history: Sequence[Utterance]) -> str:
        """The human agent: show what has been said, then wait for the next typed line."""
        self._refresh()
        rounds = sum(1 for u in history if u.speaker == "agent") + 1
        opener = "You open the conversation. " if not history else ""
        self._status(f"{opener}Your turn: round {rounds} of {scenario.max_rounds}.")
        self._line = asyncio.get_running_loop().create_future()
        box = self.query_one("#play-input", Input)
        box.disabled = False
        box.focus()
        try:
            return await self._line
        finally:
            self._line = None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._line is None or self._line.done():
            return
        if not split_think(event.value).text.strip():
            self.notify("Say something out loud (after any <think> block).", severity="warning")
            return
        self._line.set_result(event.value)
        event.input.value = ""
        event.input.disabled = True
        self._status("They are answering…")

    def _refresh(self) -> None:
        """Show the turns recorded so far (the store is the record of the play-through)."""
        if self.episode is None:
            return
        store = self.play_app.store
        turns = store.turns(self.episode.id)
        if len(turns) > self.shown:
            transcript = self.query_one("#play-transcript", VerticalScroll)
            transcript.mount_all([TurnView(t, agent_label="You", user_label="Them",
                                           empty_think=False)
                                  for t in turns[self.shown:]])
            self.shown = len(turns)
            transcript.scroll_end(animate=False)
            self.query_one("#play-chart", StateChart).set_data(chart_data(turns, self.scenario))

    def _end(self) -> None:
        assert self.episode is not None
        self._refresh()
        self.over = True
        episode = self.play_app.store.get_episode(self.episode.id)
        self.episode = episode
        self.remove_class("hide-state")
        self.add_class("over", "revealed")
        self.query_one("#play-result", Static).update(result_text(self.scenario, episode))
        box = self.query_one("#play-input", Input)
        box.disabled = True
        self._status("The conversation is over. The play-through is saved in "
                     f"{self.play_app.store.path.name}. Escape: "
                     f"{'quit' if self.standalone else 'choose another scenario'}.")
        self.query_one("#play-side", VerticalScroll).scroll_home(animate=False)

    def _status(self, text: str) -> None:
        self.query_one("#play-status", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_reflection":
            # the reflection gives the state away: only once it is revealed
            return self.has_class("revealed")
        return True

    def action_toggle_reflection(self) -> None:
        self.toggle_class("show-reflection")

    def action_leave(self) -> None:
        if not self.over and self._worker is not None:
            self._worker.cancel()
            self.notify("Left before the end: the turns so far are saved; the episode is "
                        "marked interrupted.")
        if self.standalone:
            self.app.exit()
        else:
            self.app.pop_screen()


def result_text(scenario: Scenario, episode: EpisodeRow) -> Text:
    """The end-of-game panel: score, how it ended, and where the state went."""
    text = Text("Score ", style="bold")
    text.append_text(score_text(episode.score))
    text.append(f"\nended {episode.termination_reason or episode.status}, {episode.rounds} "
                f"round{'s' if episode.rounds != 1 else ''}", style=MUTED)
    if episode.error:
        text.append(f"\n{episode.error.strip().splitlines()[-1][:200]}", style="#ff5f5f")
    text.append("\nanger ", style=ANGER_STYLE)
    text.append(f"{scenario.start.anger:>3} → {episode.anger}")
    text.append(f"  (goal ≤{scenario.success.anger}, fail ≥{scenario.failure.anger})",
                style=MUTED)
    text.append("\ntrust ", style=TRUST_STYLE)
    text.append(f"{scenario.start.trust:>3} → {episode.trust}")
    text.append(f"  (goal ≥{scenario.success.trust}, fail ≤{scenario.failure.trust})",
                style=MUTED)
    text.append("\n+100 = both goals, -100 = both fails", style=MUTED)
    return text
