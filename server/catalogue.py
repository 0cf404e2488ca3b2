"""The scenarios a server offers, found by id, with the views an agent may see."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from eibench.harness.agents import AGENT_INSTRUCTION
from eibench.scenarios.model import Scenario
from eibench.scenarios.official import AGENT_OPEN_CUE
from eibench.server.errors import ConversationError
from eibench.server.models import ScenarioSummary


def agent_brief(scenario: Scenario) -> str:
    """The agent's system prompt: its persona plus the instruction to speak words only.

    The same text a harness agent gets as its system message.
    """
    instruction = AGENT_INSTRUCTION.get(scenario.language, AGENT_INSTRUCTION["en"])
    return scenario.agent_persona + instruction


def open_cue(scenario: Scenario) -> str:
    """The line that asks the agent to open a charm conversation."""
    return scenario.agent_first_message or AGENT_OPEN_CUE.get(scenario.language,
                                                              AGENT_OPEN_CUE["en"])


class Catalogue:
    """Scenarios by id. An id shared by two splits is reachable as ``<split>/<id>``."""

    def __init__(self, scenarios: Sequence[Scenario]) -> None:
        self.scenarios = list(scenarios)
        counts: dict[str, int] = {}
        for s in self.scenarios:
            counts[s.id] = counts.get(s.id, 0) + 1
        self._by_id: dict[str, Scenario] = {}
        for s in self.scenarios:
            self._by_id[f"{s.split}/{s.id}"] = s
            if counts[s.id] == 1:
                self._by_id[s.id] = s
        self._ambiguous = {i for i, n in counts.items() if n > 1}

    def __len__(self) -> int:
        return len(self.scenarios)

    def key(self, scenario: Scenario) -> str:
        """The id to show for ``scenario`` (``split/id`` when the plain id is ambiguous)."""
        return f"{scenario.split}/{scenario.id}" if scenario.id in self._ambiguous else scenario.id

    def get(self, scenario_id: str) -> Scenario:
        """The scenario named ``scenario_id``.

        Raises:
            ConversationError: unknown or ambiguous id (the message suggests close ids).
        """
        found = self._by_id.get(scenario_id.strip())
        if found is not None:
            return found
        if scenario_id in self._ambiguous:
            options = ", ".join(sorted(k for k in self._by_id if k.endswith("/" + scenario_id)))
            raise ConversationError(f"scenario id {scenario_id!r} exists in several splits; "
                                    f"use one of: {options}")
        close = difflib.get_close_matches(scenario_id, list(self._by_id), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConversationError(f"unknown scenario {scenario_id!r}.{hint} Call list_scenarios "
                                "to see the ids this server offers.")

    def select(self, *, scene: str | None = None, split: str | None = None,
               language: str | None = None) -> list[Scenario]:
        return [s for s in self.scenarios
                if (scene is None or s.scene.value == scene)
                and (split is None or s.split == split)
                and (language is None or s.language == language)]

    def summary(self, scenario: Scenario) -> ScenarioSummary:
        return ScenarioSummary(id=self.key(scenario), title=scenario.title,
                               scene=scenario.scene.value, split=scenario.split,
                               language=scenario.language, agent_opens=scenario.agent_opens,
                               max_rounds=scenario.max_rounds)

    def public_view(self, scenario: Scenario, *, reveal: bool) -> dict[str, Any]:
        """What the agent may read about a scenario.

        Without ``reveal`` this is exactly what a harness agent is given (its brief and the
        opening line); with it, also the user's persona, the anchors and the descriptive goals.
        """
        view: dict[str, Any] = {
            "id": self.key(scenario), "title": scenario.title, "scene": scenario.scene.value,
            "split": scenario.split, "language": scenario.language,
            "max_rounds": scenario.max_rounds, "agent_opens": scenario.agent_opens,
            "agent_brief": agent_brief(scenario), "opening_line": scenario.opening_line,
        }
        if scenario.agent_opens:
            view["open_cue"] = open_cue(scenario)
        if reveal:
            view |= {
                "user_persona": scenario.user_persona,
                "anchors": {"start": scenario.start.model_dump(),
                            "success": scenario.success.model_dump(),
                            "failure": scenario.failure.model_dump()},
                "goal": scenario.goal, "success_criteria": list(scenario.success_criteria),
                "must_avoid": list(scenario.must_avoid),
            }
        return view
