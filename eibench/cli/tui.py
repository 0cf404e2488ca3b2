"""`eibench tui` (browse the store live) and `eibench play` (be the agent yourself).

Textual is imported inside the commands only, so the rest of the CLI never loads it.
"""

from __future__ import annotations

import click

from eibench.cli.options import db_option, source_options


@click.command()
@db_option
@click.option("--poll", type=click.FloatRange(min=0.05), default=0.3, show_default=True,
              help="Seconds between two looks at the store for changes.")
def tui(db: str, poll: float) -> None:
    """Browse runs, episodes and dialogues in the store, live while runs write to it.

    Opens read-only, so it never blocks `eibench run` or `eibench serve` writing to the same
    file. Keys are listed at the bottom of every screen; Escape goes back.
    """
    from eibench.tui.app import EIBenchApp

    EIBenchApp(db, poll_interval=poll).run()


@click.command()
@click.argument("scenario", required=False)
@click.option("--simulator", help="heuristic, or provider:model for an LLM simulator (default: "
                                  "heuristic when no API key is set).")
@click.option("--base-url", envvar="EIBENCH_OPENAI_BASE_URL", show_envvar=True,
              help="Base URL of an OpenAI-compatible server, for an openai: simulator.")
@source_options
@db_option
@click.option("--reveal-state", is_flag=True,
              help="Show the user's anger and trust after every turn (hidden until the end "
                   "otherwise).")
@click.option("--seed", type=int, default=0, show_default=True, help="Episode seed.")
def play(scenario: str | None, simulator: str | None, base_url: str | None, pack: str | None,
         official: str | None, split: str | None, scene: str | None, db: str,
         reveal_state: bool, seed: int) -> None:
    """Play the agent yourself: talk with the simulated user of SCENARIO (or pick one).

    You read your persona, type your replies, and watch the simulated person answer; at the end
    you get the score and the trajectory of anger and trust. Each play-through is recorded in the
    store as a run named play-<date> with agent "human".
    """
    from eibench.harness.store import Store, StoreError
    from eibench.scenarios.loaders import ScenarioError, load_scenarios
    from eibench.simulator.backends.base import BackendError
    from eibench.simulator.registry import make_simulator

    if pack and official:
        raise click.UsageError("choose one source: --pack or --official")
    try:
        scenarios = load_scenarios(pack=None if official else (pack or "starter"),
                                   official=official, split=split, scene=scene)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    if not scenarios:
        raise click.ClickException("no scenarios match the selection")
    if scenario is not None and scenario not in {s.id for s in scenarios}:
        close = [s.id for s in scenarios if scenario.lower() in s.id.lower()][:8]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise click.ClickException(f"unknown scenario {scenario!r} in this source{hint}; run "
                                   "`eibench play` without it to pick from a list")
    try:
        sim = make_simulator(simulator, base_url=base_url)
    except (ValueError, ImportError, BackendError) as exc:
        raise click.ClickException(f"cannot make simulator: {exc}") from exc
    try:
        store = Store(db)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc

    from eibench.tui.play import PlayApp

    try:
        PlayApp(store, scenarios, sim, scenario_id=scenario, reveal_state=reveal_state,
                pack=None if official else (pack or "starter"), official=official,
                seed=seed).run()
    finally:
        store.close()
