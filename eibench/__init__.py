"""eibench: test and train the emotional intelligence of LLM agents.

The toolkit is split into installed subpackages, one per concern:

- ``eibench.scenarios``: the scenario model, loaders and validation, the packs.
- ``eibench.simulator``: the simulated user (state, score, backends, simulators).
- ``eibench.harness``: the dialogue loop, agents, runs, the SQLite store, reports.
- ``eibench.server``: the MCP server.
- ``eibench.tui``: the terminal UI.
- ``eibench.train``: CTC-GRPO samples and trainer.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eibench")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
