"""What the MCP tools and resources return: pydantic models, so clients get structured output."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StateView(BaseModel):
    """The simulated user's hidden state (shown only with --reveal-state or after the end)."""

    anger: int = Field(description="Negative emotion, 0-100; lower is better.")
    trust: int = Field(description="Connection to you, 0-100; higher is better.")


class StatePoint(BaseModel):
    """The state after one round (round 0 is the start), with the change that round applied."""

    round: int
    anger: int
    trust: int
    anger_delta: int = 0
    trust_delta: int = 0


class ScenarioSummary(BaseModel):
    """One scenario as `list_scenarios` shows it."""

    id: str = Field(description="Pass this to start_conversation.")
    title: str
    scene: str = Field(description="support, defense, repair or charm.")
    split: str
    language: str
    agent_opens: bool = Field(description="True in charm: you speak first.")
    max_rounds: int


class ScenarioList(BaseModel):
    """The scenarios matching a `list_scenarios` call."""

    scenarios: list[ScenarioSummary]
    total: int = Field(description="How many matched before the limit was applied.")


class ConversationStarted(BaseModel):
    """A new conversation: who you are, what the user said first, and how many rounds you have."""

    conversation_id: str = Field(description="Pass this to say and end_conversation.")
    scenario_id: str
    title: str
    scene: str
    language: str
    agent_brief: str = Field(description="Your persona and how to speak. Stay in this role.")
    opening_line: str | None = Field(
        description="What the user said first; null when you open the conversation (charm).")
    agent_opens: bool
    max_rounds: int
    next_step: str
    state: StateView | None = Field(default=None,
                                    description="The start state (only with --reveal-state).")


class SayResult(BaseModel):
    """The user's answer to one message of yours."""

    conversation_id: str
    reply: str | None = Field(description="What the user said back (null if they could not "
                                          "answer because the simulator failed).")
    round: str = Field(description="Rounds played / rounds allowed, e.g. '3/8'.")
    rounds_played: int
    max_rounds: int
    over: bool = Field(description="True when the conversation has ended; say is then refused.")
    reason: str | None = Field(default=None, description="Why it ended: simulator_stopped (the "
                                                         "user closed the talk), max_rounds, or a "
                                                         "failure reason. Null while it goes on.")
    think_recorded: bool = Field(default=False,
                                 description="A <think> block was found, recorded and not heard.")
    next_step: str
    state: StateView | None = Field(default=None, description="The state after this round "
                                                              "(only with --reveal-state).")
    delta: StateView | None = Field(default=None, description="The change this round applied "
                                                              "(only with --reveal-state).")


class ConversationResult(BaseModel):
    """The outcome of a finished conversation."""

    conversation_id: str
    scenario_id: str
    scene: str
    status: str = Field(description="finished, or failed when the simulator could not answer.")
    reason: str = Field(description="simulator_stopped, max_rounds, cancelled (ended early or "
                                    "closed when idle) or a failure reason.")
    score: float | None = Field(description="The benchmark score on its 100x scale: +100 both "
                                            "success anchors reached, -100 both failure anchors, "
                                            "0 no change. Null for a failed conversation.")
    raw_score: float | None = Field(description="The same score in [-1, 1].")
    rounds: int
    final_state: StateView
    trajectory: list[StatePoint] = Field(description="The hidden state after every round.")
    note: str | None = None


class TranscriptTurn(BaseModel):
    """One turn of a transcript."""

    idx: int
    round: int
    speaker: str
    text: str
    think: str | None = None
    reflection: str | None = None
    anger: int | None = None
    trust: int | None = None


class Transcript(BaseModel):
    """A conversation so far (the resource ``eibench://conversations/{id}``)."""

    conversation_id: str
    scenario_id: str
    status: str
    reason: str | None
    rounds_played: int
    max_rounds: int
    turns: list[TranscriptTurn]
