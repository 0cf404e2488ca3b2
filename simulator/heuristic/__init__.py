"""The offline heuristic simulator: an executable version of the simulator rubric, no model.

- ``lexicon``: the phrase patterns per language (templated empathy, commitments, caving ...);
  ``matching``: the fast, exact matcher that runs them.
- ``features``: what one message shows (counts, shapes, injections removed) and how it relates
  to the dialogue (echo, repetition, specificity, novelty).
- ``rules``: the rubric (spec section 3): features to deltas by scene and band, decay, bias,
  patience, stopping.
- ``replies``: the user's line from the phrase banks in ``simulator/banks``.
- ``simulator``: :class:`HeuristicSimulator`, the ``Simulator`` seam over the above.
"""

from eibench.simulator.heuristic.features import ContextFeatures, TextFeatures, text_features
from eibench.simulator.heuristic.replies import BankError, load_bank
from eibench.simulator.heuristic.rules import Signal, Verdict, judge
from eibench.simulator.heuristic.simulator import HeuristicSimulator

__all__ = [
    "BankError",
    "ContextFeatures",
    "HeuristicSimulator",
    "Signal",
    "TextFeatures",
    "Verdict",
    "judge",
    "load_bank",
    "text_features",
]
