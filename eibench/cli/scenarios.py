"""`eibench scenarios`: list, show, validate and count scenarios."""

from __future__ import annotations

import json
import sys
from collections import Counter
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
              help="Treat warnings (upstream anchor quirks) as errors.")
@json_option
def validate_cmd(pack: str | None, official: str | None, split: str | None, scene: str | None,
                 strict: bool, as_json: bool) -> None:
    """Check scenario data and list every problem (file, line, id, field).

    With no source, checks every shipped pack. Exits 1 when any error is found (or any warning
    with --strict). Official data is read as it is: its anchor quirks are warnings.
    """
    from eibench.scenarios.validate import validate

    if pack and official:
        raise click.UsageError("choose one source: --pack or --official")
    sources: list[tuple[str | None, str | None]] = (
        [(pack, None)] if pack else [(None, official)] if official
        else [(p, None) for p in available_packs()])
    problems = []
    counted = 0
    for src_pack, src_official in sources:
        try:
            result = validate(pack=src_pack, official=src_official, split=split, scene=scene)
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
    """Count scenarios per split and scene."""
    result = _read(pack, official, split, scene)
    stats = scenario_stats(result.scenarios)
    stats["source"] = _source_name(pack, official)
    stats["unreadable_records"] = len(result.errors)
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


def scenario_stats(items: list[Scenario]) -> dict[str, Any]:
    """Counts per split and scene, and per language."""
    splits: dict[str, dict[str, Any]] = {}
    for s in items:
        entry = splits.setdefault(s.split, {"total": 0, "scenes": dict.fromkeys(SCENES, 0)})
        entry["total"] += 1
        entry["scenes"][s.scene.value] += 1
    return {"total": len(items), "splits": dict(sorted(splits.items())),
            "languages": dict(Counter(s.language for s in items))}
