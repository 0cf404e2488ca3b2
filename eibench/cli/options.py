"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from eibench.scenarios.model import SCENES

F = TypeVar("F", bound=Callable[..., Any])


def source_options(fn: F) -> F:
    """--pack / --official / --split / --scene."""
    fn = click.option("--scene", type=click.Choice(SCENES), help="Only this scene type.")(fn)
    fn = click.option("--split", help="Only this split (test, train).")(fn)
    fn = click.option("--official", "official", type=click.Path(file_okay=False),
                      envvar="EIBENCH_OFFICIAL_DIR", show_envvar=True,
                      help="Folder with the official EIBench files (<split>/<scene>_final.jsonl).")(fn)
    fn = click.option("--pack", help="A shipped pack name (see `eibench scenarios packs`) or a "
                                     "pack folder.")(fn)
    return fn


def db_option(fn: F) -> F:
    return click.option("--db", "db", default="eibench.db", show_default=True,
                        envvar="EIBENCH_DB", show_envvar=True,
                        type=click.Path(dir_okay=False), help="The SQLite store.")(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(fn)
