"""The ``eibench`` click group. Each verb lives in its own module, imported only when used."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from eibench import __version__

# verb -> "module:attribute"; modules are imported lazily so `eibench --help` stays fast and the
# core never imports the TUI or the trainer unless asked.
COMMANDS: dict[str, str] = {
    "scenarios": "eibench.cli.scenarios:scenarios",
    "simulator": "eibench.cli.simulator:simulator",
    "run": "eibench.cli.run:run",
    "report": "eibench.cli.report:report",
    "compare": "eibench.cli.report:compare",
    "export": "eibench.cli.report:export",
    "runs": "eibench.cli.report:runs",
    "serve": "eibench.cli.serve:serve",
    "tui": "eibench.cli.tui:tui",
    "play": "eibench.cli.tui:play",
    "train": "eibench.cli.train:train",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        present = [name for name, target in COMMANDS.items()
                   if importlib.util.find_spec(target.partition(":")[0]) is not None]
        return sorted(set(super().list_commands(ctx)) | set(present))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, _, attr = COMMANDS[cmd_name].partition(":")
            if importlib.util.find_spec(module_name) is None:
                return None
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


CONTEXT: dict[str, Any] = {"auto_envvar_prefix": "EIBENCH", "help_option_names": ["-h", "--help"],
                           "max_content_width": 100}


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="eibench")
def cli() -> None:
    """eibench: test and train the emotional intelligence of LLM agents.

    A simulated person with a hidden (anger, trust) state talks with the agent under test; the
    final state is scored against anchors written into each scenario. Every option can also be
    set from an EIBENCH_<COMMAND>_<OPTION> environment variable.
    """


if __name__ == "__main__":
    cli()
