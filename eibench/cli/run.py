"""`eibench run`: run an agent against the benchmark, record every turn, print the report."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eibench.cli.options import db_option, json_option, source_options

console = Console(stderr=True)

DEFAULT_AGENT = "local:smollm2"
DEMO_LIMIT = 4
#: SmolLM2 on 2 cores makes ~75 tokens/s; a short cap keeps the offline demo to a few minutes.
DEMO_MAX_TOKENS = 120
DEFAULT_CONCURRENCY = 8
API_KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")


@click.command()
@click.option("--agent", help=f"The agent under test, provider:model (default {DEFAULT_AGENT}). "
                              "Providers: openai, anthropic, vllm, local, scripted.")
@click.option("--simulator", help="heuristic, or provider:model for an LLM simulator (default: "
                                  "heuristic when no API key is set).")
@click.option("--base-url", envvar="EIBENCH_OPENAI_BASE_URL", show_envvar=True,
              help="Base URL of an OpenAI-compatible server, for openai: agent and simulator.")
@click.option("--agent-base-url", help="Base URL for the agent only.")
@click.option("--simulator-base-url", help="Base URL for the simulator only.")
@click.option("--simulator-prompt", type=click.Path(exists=True, dir_okay=False),
              help="Replace the simulator prompt template with this jinja2 file.")
@source_options
@click.option("--limit", type=int, help="At most this many scenarios (balanced across scenes).")
@click.option("--id", "ids", multiple=True, help="Run only these scenario ids (repeatable).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Repeat each scenario N times (reliability; pass^k in the report).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed.")
@click.option("--concurrency", type=click.IntRange(min=1),
              help=f"Episodes played at once (default {DEFAULT_CONCURRENCY}; 1 for a local: agent, "
                   "whose engine runs one call at a time and reuses its cache between turns).")
@click.option("--temperature", type=float, default=0.7, show_default=True,
              help="Agent sampling temperature.")
@click.option("--top-p", type=float, help="Agent nucleus sampling.")
@click.option("--max-tokens", type=int, help="Agent max tokens per turn (default 1024; "
                                             f"{DEMO_MAX_TOKENS} for local:smollm2).")
@click.option("--simulator-temperature", type=float, default=0.7, show_default=True)
@db_option
@click.option("--run-name", help="Name the run (default: a timestamped id).")
@click.option("--resume", "resume", metavar="RUN",
              help="Finish an interrupted run (id or name) without repeating finished turns.")
@click.option("--retry-failed", is_flag=True, help="With --resume: continue failed episodes too.")
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run(agent: str | None, simulator: str | None, base_url: str | None,
        agent_base_url: str | None, simulator_base_url: str | None,
        simulator_prompt: str | None, pack: str | None, official: str | None,
        split: str | None, scene: str | None, limit: int | None, ids: tuple[str, ...],
        seeds: int, seed: int, concurrency: int | None, temperature: float, top_p: float | None,
        max_tokens: int | None, simulator_temperature: float, db: str, run_name: str | None,
        resume: str | None, retry_failed: bool, as_json: bool, quiet: bool) -> None:
    """Run an agent against scenarios with a simulated user and report the score.

    With no flags and no API key this plays the local SmolLM2 agent against the offline
    heuristic simulator on a balanced subset of the starter pack: it exercises the toolkit in a
    few minutes; it does not measure a model.
    """
    from eibench.harness.runner import RunConfig
    from eibench.harness.store import Store, StoreError
    from eibench.scenarios.loaders import ScenarioError

    try:
        store = Store(db)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if resume:
            run_row = store.get_run(resume)
            config = RunConfig.from_dict(run_row.config_dict)
        else:
            demo = agent is None and simulator is None and not any(os.environ.get(v) for v in
                                                                   API_KEY_VARS)
            config = _new_config(agent, simulator, base_url, agent_base_url, simulator_base_url,
                                 simulator_prompt, pack, official, split, scene, limit, ids, seeds,
                                 seed, concurrency, temperature, top_p, max_tokens,
                                 simulator_temperature)
            if demo and not (pack or official or limit or ids):
                config.pack, config.limit = "starter", DEMO_LIMIT
            if demo:
                console.print("[yellow]Offline defaults: the local SmolLM2 agent against the "
                              "heuristic simulator. This exercises the toolkit; it does not "
                              "measure a model. Name --agent and --simulator for real numbers.[/]")
            run_row = None
        summary = asyncio.run(_execute(store, config, run_row, run_name,
                                       concurrency or config.concurrency, retry_failed,
                                       quiet or as_json))
    except (StoreError, ScenarioError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ImportError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted: finished turns are saved; continue with "
                      f"`eibench run --resume {run_name or 'latest'} --db {db}`[/]")
        sys.exit(130)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        click.echo(summary["markdown"], nl=False)


def _new_config(agent: str | None, simulator: str | None, base_url: str | None,
                agent_base_url: str | None, simulator_base_url: str | None,
                simulator_prompt: str | None, pack: str | None, official: str | None,
                split: str | None, scene: str | None, limit: int | None, ids: tuple[str, ...],
                seeds: int, seed: int, concurrency: int | None, temperature: float,
                top_p: float | None, max_tokens: int | None, simulator_temperature: float) -> Any:
    from eibench.harness.runner import RunConfig
    from eibench.simulator.registry import default_simulator_name

    if pack and official:
        raise click.UsageError("choose one source: --pack or --official")
    agent = agent or DEFAULT_AGENT
    if simulator == "heuristic" and simulator_prompt:
        raise click.UsageError("--simulator-prompt applies to LLM simulators, not 'heuristic'")
    local = agent.startswith("local:")
    if max_tokens is None:
        max_tokens = DEMO_MAX_TOKENS if local else 1024
    if concurrency is None:
        concurrency = 1 if local else DEFAULT_CONCURRENCY
    return RunConfig(
        agent=agent, simulator=simulator or default_simulator_name(),
        pack=None if official else (pack or "starter"), official=official,
        split=split or "test", scene=scene, limit=limit, ids=list(ids) or None, seeds=seeds,
        seed=seed, concurrency=concurrency, agent_base_url=agent_base_url or base_url,
        simulator_base_url=simulator_base_url or base_url, simulator_prompt=simulator_prompt,
        temperature=temperature, top_p=top_p, max_tokens=max_tokens,
        simulator_temperature=simulator_temperature)


async def _execute(store: Any, config: Any, run_row: Any, run_name: str | None,
                   concurrency: int, retry_failed: bool, quiet: bool) -> dict[str, Any]:
    from eibench.harness.report import build_report, report_markdown
    from eibench.harness.runner import build_components, create_run, execute
    from eibench.scenarios.loaders import load_scenarios

    agent, simulator = build_components(config)
    if run_row is None:
        scenarios = load_scenarios(pack=config.pack, official=config.official, split=config.split,
                                   scene=config.scene, ids=config.ids, limit=config.limit,
                                   balanced=True)
        if not scenarios:
            raise click.ClickException("no scenarios match the selection")
        run_row = create_run(store, config, scenarios, simulator=simulator, name=run_name)
    if simulator.kind == "heuristic":
        console.print("[dim]simulator=heuristic: offline rule-based user. LLM simulators give the "
                      "benchmark's real numbers.[/]")
    console.print(f"[bold]run {run_row.name}[/] · agent {config.agent} · simulator "
                  f"{simulator.name} · db {store.path}")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                  disable=quiet, transient=False) as bar:
        task = bar.add_task("episodes", total=None, info="")

        def show(p: Any) -> None:
            mean = "-" if p.mean is None else f"{100 * p.mean:+.1f}"
            bar.update(task, total=p.total, completed=p.done,
                       info=f"failed {p.failed} · mean {mean}")

        try:
            await execute(store, run_row, agent, simulator, concurrency=concurrency,
                          retry_failed=retry_failed, on_progress=show)
        finally:
            await _close(agent, simulator)
    run_row = store.get_run(run_row.id)
    report = build_report(store, run_row)
    return {"run": run_row.id, "name": run_row.name, "report": report.to_dict(),
            "markdown": report_markdown(report)}


async def _close(*parts: Any) -> None:
    for part in parts:
        for attr in ("backend",):
            backend = getattr(part, attr, None)
            if backend is not None and hasattr(backend, "aclose"):
                await backend.aclose()
