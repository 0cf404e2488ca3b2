"""How an MCP server is configured (the `eibench serve` options)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 8765
DEFAULT_MAX_MESSAGE_CHARS = 16_000
DEFAULT_MAX_CONVERSATIONS = 256
DEFAULT_IDLE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class ServerSettings:
    """Everything one server needs; one server process records into one run.

    Attributes:
        simulator: ``heuristic`` or a backend spec for an LLM simulator (``openai:gpt-4.1``...).
        base_url: base URL of an OpenAI-compatible server for the simulator.
        db: the SQLite store.
        run_name: record into this run (created, or reused when it is an earlier MCP run).
        pack: a shipped pack name or a pack folder (default ``starter``).
        official: a folder with the official EIBench files (instead of a pack).
        reveal_state: show the hidden state while talking, the user persona and the anchors.
        max_message_chars: the longest message `say` accepts, think block included.
        max_conversations: how many conversations may be open at once.
        idle_timeout_s: an open conversation with no message for this long is closed.
        seed: the seed passed to the simulator on every turn.
    """

    simulator: str = "heuristic"
    base_url: str | None = None
    db: str = "eibench.db"
    run_name: str | None = None
    pack: str | None = None
    official: str | None = None
    reveal_state: bool = False
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    max_conversations: int = DEFAULT_MAX_CONVERSATIONS
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pack and self.official:
            raise ValueError("choose one scenario source: --pack or --official, not both")
        if self.max_message_chars < 1:
            raise ValueError(f"max_message_chars must be at least 1, got {self.max_message_chars}")
        if self.max_conversations < 1:
            raise ValueError(f"max_conversations must be at least 1, got {self.max_conversations}")
        if self.idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be positive, got {self.idle_timeout_s}")

    @property
    def source(self) -> str:
        """The scenario source as runs record it."""
        return f"official:{self.official}" if self.official else f"pack:{self.pack or 'starter'}"
