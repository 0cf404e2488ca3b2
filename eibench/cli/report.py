"""`eibench report`, `compare`, `export` and `runs`: read results back out of the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table

from eibench.cli.options import db_option, json_option

console = Console()
FORMATS = click.Choice(["md", "json", "csv"])


@contextmanager
def _open_store(db: str) -> Iterator[object]:
    from eibench.harness.store import Store, StoreError

    try:
        store = Store(db, readonly=True)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield store
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@click.command()
@click.argument("run_ref", metavar="RUN", default="latest")
@db_option
@click.option("--format", "fmt", type=FORMATS, default="md", show_default=True)
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False),
              help="Also write PNG charts (per-scene bars, trajectories) into this folder.")
def report(run_ref: str, db: str, fmt: str, plot_dir: str | None) -> None:
    """Score of a run: overall and per scene (100 x mean, 95% bootstrap CI), reasons, tokens."""
    from eibench.harness.report import build_report, report_csv, report_markdown, to_json
    from eibench.harness.store import Store

    with _open_store(db) as store:
        assert isinstance(store, Store)
        run_row = store.get_run(run_ref)
        r = build_report(store, run_row)
        text = {"md": report_markdown, "json": to_json, "csv": report_csv}[fmt](r)
        click.echo(text, nl=not text.endswith("\n"))
        if plot_dir:
            from eibench.harness.plots import write_plots

            for path in write_plots(store, run_row, r, plot_dir):
                click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@db_option
@click.option("--format", "fmt", type=FORMATS, default="md", show_default=True)
def compare(run_a: str, run_b: str, db: str, fmt: str) -> None:
    """Per-scene differences B - A over shared scenarios, with paired bootstrap intervals."""
    from eibench.harness.report import compare_runs, comparison_csv, comparison_markdown, to_json
    from eibench.harness.store import Store

    with _open_store(db) as store:
        assert isinstance(store, Store)
        c = compare_runs(store, store.get_run(run_a), store.get_run(run_b))
        text = {"md": comparison_markdown, "json": to_json, "csv": comparison_csv}[fmt](c)
        click.echo(text, nl=not text.endswith("\n"))


@click.command()
@click.argument("run_ref", metavar="RUN", default="latest")
@db_option
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="File (default: stdout).")
def export(run_ref: str, db: str, fmt: str, out: str | None) -> None:
    """Write a run's transcripts with per-turn states as JSON Lines."""
    from eibench.harness.export import transcripts_jsonl
    from eibench.harness.store import Store

    with _open_store(db) as store:
        assert isinstance(store, Store)
        run_row = store.get_run(run_ref)
        if out:
            with open(out, "w", encoding="utf-8") as fh:
                n = sum(1 for line in transcripts_jsonl(store, run_row) if fh.write(line))
            click.echo(f"wrote {n} episodes to {out}", err=True)
        else:
            for line in transcripts_jsonl(store, run_row):
                sys.stdout.write(line)


@click.command()
@db_option
@json_option
def runs(db: str, as_json: bool) -> None:
    """List the runs in the store with their progress and running score."""
    from eibench.harness.store import Store

    with _open_store(db) as store:
        assert isinstance(store, Store)
        rows = store.list_runs()
        progress = store.run_progress()
        items = []
        for r in rows:
            p = progress.get(r.id, {"counts": {}, "mean": None})
            done = p["counts"].get("finished", 0) + p["counts"].get("failed", 0)
            items.append({"id": r.id, "name": r.name, "agent": r.agent, "simulator": r.simulator,
                          "status": r.status, "episodes": sum(p["counts"].values()),
                          "done": done, "failed": p["counts"].get("failed", 0),
                          "score": None if p["mean"] is None else 100 * p["mean"]})
        if as_json:
            click.echo(json.dumps(items, indent=1))
            return
        table = Table(title=f"runs in {db}")
        for col in ("name", "agent", "simulator", "status", "done", "score"):
            table.add_column(col)
        for it in items:
            score = "-" if it["score"] is None else f"{it['score']:+.1f}"
            table.add_row(it["name"], it["agent"], it["simulator"], it["status"],
                          f"{it['done']}/{it['episodes']}", score)
        console.print(table)
