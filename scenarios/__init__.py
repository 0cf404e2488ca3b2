"""Scenarios: the model, loaders for packs and official files, and validation."""

from eibench.scenarios.loaders import (
    DEFAULT_PACK,
    LoadResult,
    ScenarioError,
    available_packs,
    balanced_subset,
    load_scenarios,
    read_official,
    read_pack,
)
from eibench.scenarios.model import SCENES, Anchor, Problem, Scenario, Scene

__all__ = [
    "DEFAULT_PACK",
    "SCENES",
    "Anchor",
    "LoadResult",
    "Problem",
    "Scenario",
    "ScenarioError",
    "Scene",
    "available_packs",
    "balanced_subset",
    "load_scenarios",
    "read_official",
    "read_pack",
]
