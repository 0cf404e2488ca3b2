"""The terminal UI: browse a store live (``eibench tui``) and play the agent (``eibench play``).

Only this package and ``eibench.cli.tui`` import Textual; the core never does.
"""

from eibench.tui.app import EIBenchApp
from eibench.tui.play import PlayApp

__all__ = ["EIBenchApp", "PlayApp"]
