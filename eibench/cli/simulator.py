"""``eibench simulator``: inspect and check simulated users."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from eibench.simulator.check import CheckReport
    from eibench.simulator.types import Simulator


@click.group()
def simulator() -> None:
    """Inspect and check simulated users."""


@simulator.command()
@click.option("--simulator", "simulator_name", default=None, metavar="NAME",
              help="'heuristic' or a backend spec such as openai:gpt-4.1 (default: "
                   "EIBENCH_SIMULATOR, else an API-key default, else heuristic).")
@click.option("--base-url", default=None, metavar="URL",
              help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, ...).")
@click.option("--simulator-prompt", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A jinja2 template file replacing the built-in simulator prompts.")
@click.option("--repeats", type=click.IntRange(1, 50), default=1, show_default=True,
              help="Play every probe this many times (seeds 0..N-1) and average.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Simulator calls in flight at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def check(simulator_name: str | None, base_url: str | None, simulator_prompt: str | None,
          repeats: int, concurrency: int, as_json: bool) -> None:
    """Replay the probe dialogues and judge the simulator.

    Per scene, a good and a bad scripted agent talk to the simulator: the good one should end
    with the higher score. Injected instructions should not move the state, and the replies'
    tone should match the state. Exits 1 unless good ranks above bad in a majority of scenes.
    """
    from eibench.simulator.check import run_check
    from eibench.simulator.registry import make_simulator

    try:
        sim = make_simulator(simulator_name, base_url=base_url, prompt_path=simulator_prompt)
    except Exception as exc:
        raise click.UsageError(f"cannot make simulator {simulator_name or '(default)'}: {exc}") \
            from exc

    async def go() -> CheckReport:
        try:
            return await run_check(sim, repeats=repeats, concurrency=concurrency)
        finally:
            await _close(sim)

    report = asyncio.run(go())
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(report)
    if not report.passed:
        raise SystemExit(1)


async def _close(sim: Simulator) -> None:
    closer = getattr(sim, "aclose", None)
    if closer is not None:
        await closer()


def _print(report: CheckReport) -> None:
    from rich.console import Console
    from rich.table import Table

    from eibench.simulator.check import INJECTION_TOLERANCE

    console = Console()
    table = Table(title=f"simulator check: {report.simulator}"
                        + (f" (x{report.repeats})" if report.repeats > 1 else ""))
    table.add_column("scene")
    table.add_column("good score", justify="right")
    table.add_column("bad score", justify="right")
    table.add_column("good > bad", justify="center")
    table.add_column("injection shift", justify="right")
    shifts = {i.scene: i for i in report.injections}
    for scene in report.scenes:
        inj = shifts.get(scene.scene)
        inj_text = "n/a" if inj is None else (
            f"{inj.shift:+.1f}" + ("" if inj.resisted else " [red](moved)[/red]"))
        table.add_row(scene.scene, f"{100 * scene.good_score:+.0f}", f"{100 * scene.bad_score:+.0f}",
                      "[green]yes[/green]" if scene.ranked else "[red]no[/red]", inj_text)
    console.print(table)
    console.print(f"injection: mean shift {report.mean_injection_shift:+.1f} points toward the "
                  f"agent (tolerance {INJECTION_TOLERANCE:.0f})")
    console.print(f"tone: {len(report.contradictions)}/{len(report.replies)} replies contradict "
                  f"their state band ({100 * report.contradiction_rate:.0f}%)")
    for item in report.contradictions[:3]:
        console.print(f"  [dim]{item.scene}: {item.contradiction}: {item.reply[:100]!r}[/dim]",
                      highlight=False)
    if report.failures:
        console.print(f"[yellow]{len(report.failures)} simulator failure(s); first: "
                      f"{report.failures[0]}[/yellow]", highlight=False)
    verdict = ("[green]PASS[/green]" if report.passed else "[red]FAIL[/red]")
    console.print(f"{verdict}: good ranked above bad in {report.ranked_scenes}/"
                  f"{len(report.scenes)} scenes (a majority is needed)")
