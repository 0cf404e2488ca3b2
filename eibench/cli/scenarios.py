"""`eibench scenarios`: list, show, validate, count, generate and import scenarios."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eibench.cli.options import json_option, source_options
from eibench.scenarios.loaders import (
    DEFAULT_PACK,
    LoadResult,
    ScenarioError,
    available_packs,
    read_official,
    read_pack,
)
from eibench.scenarios.model import SCENES, Scenario
from eibench.scenarios.similarity import DEFAULT_THRESHOLD

console = Console()


def _read(pack: str | None, official: str | None, split: str | None,
          scene: str | None) -> LoadResult:
    if pack and official:
        raise click.UsageError("choose one source: --pack or --official")
    try:
        if official:
            return read_official(official, split=split, scene=scene)
        return read_pack(pack or DEFAULT_PACK, split=split, scene=scene)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc


def _source_name(pack: str | None, official: str | None) -> str:
    return f"official:{official}" if official else f"pack:{pack or DEFAULT_PACK}"


@click.group()
def scenarios() -> None:
    """Browse, check and count scenarios (project packs and official EIBench files)."""


@scenarios.command("packs")
@json_option
def packs_cmd(as_json: bool) -> None:
    """List the packs shipped with eibench."""
    names = available_packs()
    if as_json:
        click.echo(json.dumps(names))
    else:
        for name in names:
            click.echo(name)


@scenarios.command("list")
@source_options
@click.option("--limit", type=int, help="Show at most this many.")
@json_option
def list_cmd(pack: str | None, official: str | None, split: str | None, scene: str | None,
             limit: int | None, as_json: bool) -> None:
    """List scenarios with their scene, split and anchors."""
    result = _read(pack, official, split, scene)
    items = result.scenarios[:limit] if limit else result.scenarios
    if as_json:
        click.echo(json.dumps([_summary(s) for s in items], ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{len(items)} scenarios from {_source_name(pack, official)}")
    for col in ("id", "scene", "split", "lang", "start", "success", "failure", "title"):
        table.add_column(col, overflow="fold" if col == "title" else "ellipsis")
    for s in items:
        table.add_row(s.id, s.scene.value, s.split, s.language,
                      f"{s.start.anger}/{s.start.trust}", f"{s.success.anger}/{s.success.trust}",
                      f"{s.failure.anger}/{s.failure.trust}", s.title)
    console.print(table)
    if result.errors:
        console.print(f"[yellow]{len(result.errors)} record(s) could not be read; run "
                      "`eibench scenarios validate`[/]")


def _summary(s: Scenario) -> dict[str, Any]:
    return {"id": s.id, "scene": s.scene.value, "split": s.split, "language": s.language,
            "title": s.title, "start": s.start.model_dump(), "success": s.success.model_dump(),
            "failure": s.failure.model_dump(), "source": s.source}


@scenarios.command("show")
@click.argument("scenario_id")
@source_options
@json_option
def show_cmd(scenario_id: str, pack: str | None, official: str | None, split: str | None,
             scene: str | None, as_json: bool) -> None:
    """Show one scenario in full."""
    result = _read(pack, official, split, scene)
    found = [s for s in result.scenarios if s.id == scenario_id]
    if not found:
        raise click.ClickException(f"no scenario {scenario_id!r} in {_source_name(pack, official)}")
    s = found[0]
    if as_json:
        click.echo(json.dumps(s.to_record() | {"split": s.split}, ensure_ascii=False, indent=1))
        return
    console.rule(f"[bold]{s.id}[/] · {s.scene.value} · {s.split} · {s.language}")
    console.print(f"[bold]{s.title}[/]\n")
    console.print(f"anchors (anger/trust): start {s.start.anger}/{s.start.trust}, success "
                  f"{s.success.anger}/{s.success.trust}, failure {s.failure.anger}/{s.failure.trust}")
    console.print("\n[bold]User persona[/] (hidden from the agent)")
    console.print(s.user_persona, markup=False)
    console.print("\n[bold]Opening line[/]")
    console.print(s.opening_line or "(none: the agent opens)", markup=False)
    console.print("\n[bold]Agent persona[/]")
    console.print(s.agent_persona, markup=False)
    if s.goal:
        console.print(f"\n[bold]Goal[/] {s.goal}", markup=True)
    for label, items in (("Success criteria", s.success_criteria), ("Must avoid", s.must_avoid)):
        if items:
            console.print(f"\n[bold]{label}[/]")
            for item in items:
                console.print(f"  - {item}", markup=False)


@scenarios.command("validate")
@source_options
@click.option("--strict", is_flag=True,
              help="Treat warnings (upstream anchor quirks, missing taxonomy labels, ...) as "
                   "errors.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True),
              default=DEFAULT_THRESHOLD, show_default=True,
              help="Near-duplicate threshold: Jaccard similarity of user-persona shingles.")
@json_option
def validate_cmd(pack: str | None, official: str | None, split: str | None, scene: str | None,
                 strict: bool, threshold: float, as_json: bool) -> None:
    """Check scenario data and list every problem (file, line, id, field).

    With no source, checks every shipped pack. Packs also pass the quality gates: persona
    sections and lengths, success anchors in the scene's range, taxonomy values, the opening
    line's voice, and no near-duplicates within or across splits and packs of one language
    (see scenarios/README.md). Exits 1 when any error is found (or any warning with --strict).
    Official data is read as it is: its anchor quirks are warnings and the gates do not apply.
    """
    from eibench.scenarios.quality import validate_packs
    from eibench.scenarios.validate import validate

    if pack and official:
        raise click.UsageError("choose one source: --pack or --official")
    sources: list[tuple[str | None, str | None]] = (
        [(pack, None)] if pack else [(None, official)] if official
        else [(p, None) for p in available_packs()])
    problems = []
    counted = 0
    try:
        if official:
            result = validate(official=official, split=split, scene=scene)
        else:
            result = validate_packs([p for p, _ in sources if p], split=split, scene=scene,
                                    threshold=threshold)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    counted += len(result.scenarios)
    problems.extend(result.problems)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    failed = bool(errors) or (strict and bool(warnings))
    if as_json:
        click.echo(json.dumps({"ok": not failed, "scenarios": counted, "errors": len(errors),
                               "warnings": len(warnings),
                               "problems": [p.model_dump() for p in problems]},
                              ensure_ascii=False, indent=1))
    else:
        for p in problems:
            style = "red" if p.severity == "error" else "yellow"
            console.print(f"[{style}]{escape(p.render())}[/]", highlight=False, soft_wrap=True)
        verdict = "[red]FAILED[/]" if failed else "[green]OK[/]"
        console.print(f"{verdict}: {counted} valid scenario(s), {len(errors)} error(s), "
                      f"{len(warnings)} warning(s)")
    sys.exit(1 if failed else 0)


@scenarios.command("stats")
@source_options
@json_option
def stats_cmd(pack: str | None, official: str | None, split: str | None, scene: str | None,
              as_json: bool) -> None:
    """Count scenarios per split and scene, and show how they cover the taxonomy.

    Coverage: scenarios per theme (by scene and split) and per modifier value (by scene), and
    each split's scene shares beside the official test split's.
    """
    from eibench.scenarios.coverage import coverage, scene_proportions

    result = _read(pack, official, split, scene)
    stats = scenario_stats(result.scenarios)
    stats["source"] = _source_name(pack, official)
    stats["unreadable_records"] = len(result.errors)
    stats["coverage"] = coverage(result.scenarios)
    stats["scene_proportions"] = scene_proportions(result.scenarios)
    if as_json:
        click.echo(json.dumps(stats, ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{stats['total']} scenarios from {stats['source']}")
    table.add_column("split")
    for s in SCENES:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    for split_name, entry in stats["splits"].items():
        table.add_row(split_name, *(str(entry["scenes"].get(s, 0)) for s in SCENES),
                      str(entry["total"]))
    console.print(table)
    langs = ", ".join(f"{k}: {v}" for k, v in stats["languages"].items())
    console.print(f"languages: {langs}")
    _print_proportions(stats["scene_proportions"])
    _print_coverage(stats["coverage"], list(stats["splits"]), stats["total"])


def _print_proportions(proportions: dict[str, dict[str, dict[str, float]]]) -> None:
    table = Table(title="scene shares (official test split: 46/64/52/51 of 213)")
    table.add_column("split")
    for s in SCENES:
        table.add_column(s, justify="right")
    for split_name, scenes in proportions.items():
        table.add_row(split_name, *(f"{scenes[s]['share']:.1%} ({scenes[s]['count']:.0f})"
                                    for s in SCENES))
    table.add_row("official", *(f"{proportions[next(iter(proportions))][s]['official_share']:.1%}"
                                for s in SCENES), style="dim")
    console.print(table)


def _print_coverage(cov: dict[str, Any], splits: list[str], total: int) -> None:
    missing = cov["unlabelled"]
    if not splits or (missing["theme"] == total and missing["modifiers"] == total):
        console.print("coverage: no scenario has a theme or modifiers")
        return
    table = Table(title="themes")
    table.add_column("scene")
    table.add_column("theme")
    for split_name in splits:
        table.add_column(split_name, justify="right")
    table.add_column("total", justify="right")
    for scene_name, themes in cov["themes"].items():
        for i, (theme, counts) in enumerate(themes.items()):
            table.add_row(scene_name if i == 0 else "", theme,
                          *(_cell(counts.get(s, 0)) for s in splits), _cell(counts["total"]),
                          end_section=i == len(themes) - 1)
    console.print(table)
    for pool, values in cov["modifiers"].items():
        table = Table(title=f"modifier: {pool}")
        table.add_column("value")
        for s in SCENES:
            table.add_column(s, justify="right")
        table.add_column("total", justify="right")
        for value, counts in values.items():
            table.add_row(value, *(_cell(counts.get(s, 0)) for s in SCENES),
                          _cell(counts["total"]))
        console.print(table)
    if missing["theme"] or missing["modifiers"]:
        console.print(f"[yellow]not in coverage: {missing['theme']} scenario(s) without a theme, "
                      f"{missing['modifiers']} without modifiers[/]")


def _cell(n: int) -> str:
    return str(n) if n else "[dim]0[/]"


def scenario_stats(items: list[Scenario]) -> dict[str, Any]:
    """Counts per split and scene, and per language."""
    splits: dict[str, dict[str, Any]] = {}
    for s in items:
        entry = splits.setdefault(s.split, {"total": 0, "scenes": dict.fromkeys(SCENES, 0)})
        entry["total"] += 1
        entry["scenes"][s.scene.value] += 1
    return {"total": len(items), "splits": dict(sorted(splits.items())),
            "languages": dict(Counter(s.language for s in items))}


@scenarios.command("generate")
@click.option("--model", "model", required=True,
              help="Backend spec: anthropic:<model>, openai:<model> (with --base-url for any "
                   "OpenAI-compatible server), scripted:<file or module:callable>, ...")
@click.option("--scene", type=click.Choice(SCENES), required=True, help="Scene type to write.")
@click.option("--n", "n", type=click.IntRange(min=1), default=1, show_default=True,
              help="Scenarios to accept.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSONL file accepted scenarios are appended to; rejects go to "
                   "<stem>.rejects.jsonl beside it.")
@click.option("--language", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--pack-examples", help="Pack (name or folder) the two examples per scenario come "
                                      "from. Default: the pack named after the language.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the theme, modifiers and examples of each attempt.")
@click.option("--max-attempts", type=click.IntRange(min=1),
              help="Attempts at most (default 3 x --n).")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Attempts in flight at once.")
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.9, show_default=True,
              help="Sampling temperature of the persona call (the anchor calls use at most 0.3).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True),
              default=DEFAULT_THRESHOLD, show_default=True,
              help="Near-duplicate threshold (Jaccard over user-persona shingles).")
@click.option("--prompts", type=click.Path(dir_okay=False, exists=True),
              help="A jinja2 template replacing the built-in generator prompts.")
@click.option("--id-prefix", help="Ids are <prefix><scene>_<NNN>; default gen_<language>_.")
@click.option("--base-url", help="Server URL for openai: backends (any OpenAI-compatible "
                                 "server).")
@click.option("--timeout", type=float, help="Seconds one model call may take.")
@click.option("--max-retries", type=click.IntRange(min=0), help="Retries of a failed call.")
@json_option
def generate_cmd(model: str, scene: str, n: int, out: Path, language: str,
                 pack_examples: str | None, seed: int, max_attempts: int | None,
                 concurrency: int, temperature: float, threshold: float, prompts: str | None,
                 id_prefix: str | None, base_url: str | None, timeout: float | None,
                 max_retries: int | None, as_json: bool) -> None:
    """Write new scenarios with an LLM, the way the EIBench train set was made.

    Each attempt samples a theme and one value per modifier pool, shows the model two
    same-scene examples from a pack, and makes three calls: the personas and opening line,
    the start and success anchors, the worst case. Anchors are rounded to multiples of 5 and
    forced into order and into the scene's success range; the scenario must pass every quality
    gate and not near-duplicate an existing pack or the batch. Review the output before adding
    it to a pack.

    \b
    Example:
      eibench scenarios generate --model anthropic:claude-sonnet-4-5 \\
        --scene defense --n 20 --out new/defense.jsonl
    """
    from eibench.scenarios.generate import GenerateConfig, GenerationError, generate
    from eibench.simulator.backends import MissingDependency, get_backend

    config = GenerateConfig(scene=scene, n=n, out=out, language=language,
                            pack_examples=pack_examples, seed=seed, max_attempts=max_attempts,
                            concurrency=concurrency, temperature=temperature,
                            threshold=threshold, prompts=prompts, id_prefix=id_prefix,
                            model_name=model)
    try:
        backend = get_backend(model, base_url=base_url, timeout=timeout, max_retries=max_retries)
    except (ValueError, TypeError, MissingDependency) as exc:
        raise click.ClickException(str(exc)) from exc

    async def go() -> Any:
        try:
            return await generate(backend, config)
        finally:
            await backend.aclose()

    try:
        report = asyncio.run(go())
    except GenerationError as exc:
        raise click.ClickException(str(exc)) from exc
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        stages = ", ".join(f"{k} {v}" for k, v in summary["rejected_by_stage"].items()) or "none"
        console.print(f"accepted {summary['accepted']} of {n} in {summary['attempts']} "
                      f"attempt(s) -> {escape(str(out))}")
        console.print(f"rejected {summary['rejected']} ({stages}) -> "
                      f"{escape(summary['rejects_file'])}")
        usage = summary["usage"]
        console.print(f"model calls {usage['calls']}, tokens in {usage['input_tokens']} / out "
                      f"{usage['output_tokens']}, cost ${usage['cost_usd']:.4f}")
        if report.stopped:
            console.print(f"[yellow]{escape(report.stopped)}[/]")
    sys.exit(0 if len(report.accepted) == n else 1)


@scenarios.command("import")
@click.option("--official", "official", type=click.Path(file_okay=False), required=True,
              envvar="EIBENCH_OFFICIAL_DIR", show_envvar=True,
              help="Folder with the official EIBench files (<split>/<scene>_final.jsonl).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Pack folder to create (<out>/<split>/<scene>.jsonl); outside the package.")
@click.option("--language", default="zh", show_default=True,
              help="Language recorded in each record that has none.")
@click.option("--force", is_flag=True, help="Overwrite files already in --out.")
@json_option
def import_cmd(official: str, out: Path, language: str, force: bool, as_json: bool) -> None:
    """Copy official EIBench files you have into a local pack folder.

    The records are kept as they are, with a `language` field added, and a pack.json records
    their origin and licence (CC BY-NC 4.0: the official data is never shipped with eibench).
    Use the folder with --pack OUT anywhere a pack is taken.
    """
    from eibench.scenarios.importer import ImportRefused, import_official

    try:
        report = import_official(official, out, language=language, force=force)
    except (ScenarioError, ImportRefused) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({"out": str(report.out), "files": report.files,
                               "scenarios": report.total, "unparsed_lines": report.unparsed},
                              ensure_ascii=False, indent=1))
        return
    for name, count in report.files.items():
        console.print(f"{escape(name)}: {count}")
    console.print(f"imported {report.total} scenario(s) into {escape(str(out))}; use "
                  f"--pack {escape(str(out))}")
    if report.unparsed:
        console.print(f"[yellow]{len(report.unparsed)} line(s) were not JSON objects and were "
                      "copied as they are; run `eibench scenarios validate --pack` on it[/]")
