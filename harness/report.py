"""Reports over a run in the store: overall and per-scene scores with bootstrap intervals.

Numbers follow the paper: the reported score is 100 x the mean anchor score over scenarios,
per scene and overall (overall = mean over all scored episodes). Failed episodes (the agent or
simulator could not answer) carry their reason and are counted, not scored.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from eibench.harness.stats import bootstrap_ci, mean, paired_bootstrap_ci, std
from eibench.harness.store import EpisodeRow, RunRow, Store
from eibench.scenarios.model import SCENES

#: agents driven from outside (MCP clients, a person at the keyboard): a run cannot replay them
NOT_RESUMABLE_AGENTS = ("mcp", "human")

HEURISTIC_NOTE = ("simulator=heuristic: an offline rule-based stand-in for the LLM simulator; "
                  "it exercises the toolkit. LLM simulators give the benchmark's real numbers.")


@dataclass
class SceneStats:
    """Scores of one scene (or overall), on the paper's 100x scale."""

    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class Report:
    run: dict[str, Any]
    overall: SceneStats
    scenes: dict[str, SceneStats]
    episodes: int
    finished: int
    failed: int
    unfinished: int
    termination: dict[str, int]
    tokens: dict[str, float]
    repeats: int
    reliability: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stats(scores: list[float]) -> SceneStats:
    ci = bootstrap_ci(scores)
    m = mean(scores)
    return SceneStats(n=len(scores), mean=None if m is None else 100 * m,
                      ci_low=None if ci is None else 100 * ci[0],
                      ci_high=None if ci is None else 100 * ci[1])


def build_report(store: Store, run: RunRow) -> Report:
    """Compute the report of ``run`` from the store."""
    episodes = store.episodes(run.id)
    scored = [e for e in episodes if e.status == "finished" and e.score is not None]
    by_scene: dict[str, list[float]] = defaultdict(list)
    for e in scored:
        by_scene[e.scene].append(e.score)  # type: ignore[arg-type]
    scenes = {s: _stats(by_scene[s]) for s in SCENES if by_scene.get(s)}
    termination = Counter(e.termination_reason or e.status for e in episodes
                          if e.status in ("finished", "failed"))
    repeats = max((e.repeat for e in episodes), default=0) + 1
    report = Report(
        run={"id": run.id, "name": run.name, "agent": run.agent, "simulator": run.simulator,
             "simulator_kind": run.simulator_kind, "prompt_hash": run.prompt_hash,
             "source": run.source, "seed": run.seed, "status": run.status,
             "code_version": run.code_version},
        overall=_stats([e.score for e in scored]),  # type: ignore[misc]
        scenes=scenes,
        episodes=len(episodes),
        finished=sum(e.status == "finished" for e in episodes),
        failed=sum(e.status == "failed" for e in episodes),
        unfinished=sum(e.status not in ("finished", "failed") for e in episodes),
        termination=dict(sorted(termination.items())),
        tokens={"input": sum(e.input_tokens for e in episodes),
                "output": sum(e.output_tokens for e in episodes),
                "cost_usd": round(sum(e.cost_usd for e in episodes), 6)},
        repeats=repeats,
    )
    if repeats > 1:
        report.reliability = reliability(scored, repeats)
    if run.simulator_kind == "heuristic":
        report.notes.append(HEURISTIC_NOTE)
    if report.unfinished:
        how = (f"`eibench run --resume {run.name}` completes them"
               if run.agent not in NOT_RESUMABLE_AGENTS else "they are still in progress")
        report.notes.append(f"{report.unfinished} episode(s) unfinished: {how}")
    return report


def reliability(scored: list[EpisodeRow], k: int) -> dict[str, Any]:
    """Per-scenario spread over repeats and the share that succeed (score > 0) in all k."""
    per: dict[str, list[float]] = defaultdict(list)
    for e in scored:
        per[e.scenario_id].append(e.score)  # type: ignore[arg-type]
    complete = {sid: v for sid, v in per.items() if len(v) == k}
    spreads = [std(v) for v in complete.values()]
    spreads_known = [s for s in spreads if s is not None]
    mean_spread = mean(spreads_known)
    return {
        "k": k,
        "scenarios_with_all_k": len(complete),
        "pass_all_k": (sum(all(x > 0 for x in v) for v in complete.values()) / len(complete)
                       if complete else None),
        "pass_any": (sum(any(x > 0 for x in v) for v in complete.values()) / len(complete)
                     if complete else None),
        "mean_within_scenario_std": None if mean_spread is None else 100 * mean_spread,
        "per_scenario": {sid: {"mean": 100 * (sum(v) / len(v)), "min": 100 * min(v),
                               "max": 100 * max(v)} for sid, v in sorted(complete.items())},
    }


@dataclass
class Comparison:
    a: dict[str, Any]
    b: dict[str, Any]
    scenes: dict[str, dict[str, Any]]
    overall: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _paired(a: list[EpisodeRow], b: list[EpisodeRow]) -> dict[str, Any]:
    """Pair episodes by (scenario, repeat): mean B - A with a paired bootstrap interval."""
    left = {(e.scenario_id, e.repeat): e.score for e in a if e.score is not None}
    right = {(e.scenario_id, e.repeat): e.score for e in b if e.score is not None}
    keys = sorted(set(left) & set(right))
    xs = [left[k] for k in keys]
    ys = [right[k] for k in keys]
    ci = paired_bootstrap_ci(xs, ys) if keys else None
    d = mean([y - x for x, y in zip(xs, ys, strict=True)])
    return {"pairs": len(keys), "a": None if not xs else 100 * (sum(xs) / len(xs)),
            "b": None if not ys else 100 * (sum(ys) / len(ys)),
            "diff": None if d is None else 100 * d,
            "ci_low": None if ci is None else 100 * ci[0],
            "ci_high": None if ci is None else 100 * ci[1]}


def compare_runs(store: Store, run_a: RunRow, run_b: RunRow) -> Comparison:
    """Per-scene and overall differences (B - A) over scenarios both runs scored."""
    ea = [e for e in store.episodes(run_a.id) if e.status == "finished"]
    eb = [e for e in store.episodes(run_b.id) if e.status == "finished"]
    scenes = {}
    for s in SCENES:
        sa = [e for e in ea if e.scene == s]
        sb = [e for e in eb if e.scene == s]
        if sa and sb:
            scenes[s] = _paired(sa, sb)
    return Comparison(a={"id": run_a.id, "name": run_a.name, "agent": run_a.agent},
                      b={"id": run_b.id, "name": run_b.name, "agent": run_b.agent},
                      scenes=scenes, overall=_paired(ea, eb))


def _fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:+.{digits}f}" if digits else f"{x:.0f}"


def _ci(s: SceneStats | dict[str, Any]) -> str:
    lo = s.ci_low if isinstance(s, SceneStats) else s["ci_low"]
    hi = s.ci_high if isinstance(s, SceneStats) else s["ci_high"]
    return "-" if lo is None else f"[{lo:+.1f}, {hi:+.1f}]"


def report_markdown(r: Report) -> str:
    """The report as a Markdown document."""
    lines = [f"# eibench report: {r.run['name']}", "",
             f"- agent: `{r.run['agent']}`", f"- simulator: `{r.run['simulator']}`",
             f"- source: `{r.run['source']}`; seed {r.run['seed']}; repeats {r.repeats}",
             f"- episodes: {r.episodes} ({r.finished} scored, {r.failed} failed, "
             f"{r.unfinished} unfinished)", "",
             f"**Overall: {_fmt(r.overall.mean)}** (100 x mean score; 95% CI {_ci(r.overall)}, "
             f"n={r.overall.n})", "",
             "| scene | n | score | 95% CI |", "|---|---:|---:|---|"]
    for name, s in r.scenes.items():
        lines.append(f"| {name} | {s.n} | {_fmt(s.mean)} | {_ci(s)} |")
    lines += ["", "| termination | episodes |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r.termination.items()]
    lines += ["", f"Tokens: {r.tokens['input']:.0f} in, {r.tokens['output']:.0f} out; "
                  f"cost ${r.tokens['cost_usd']:.4f}"]
    if r.reliability:
        rel = r.reliability
        pass_k = "-" if rel["pass_all_k"] is None else f"{100 * rel['pass_all_k']:.1f}%"
        spread = rel["mean_within_scenario_std"]
        lines += ["", f"Reliability over k={rel['k']} seeds ({rel['scenarios_with_all_k']} "
                      f"scenarios): succeed in all k (score > 0): {pass_k}; mean within-scenario "
                      f"std: {'-' if spread is None else f'{spread:.1f}'}"]
    for note in r.notes:
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def report_csv(r: Report) -> str:
    """One row per scene plus an ``overall`` row."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["run", "agent", "simulator", "scene", "n", "score", "ci_low", "ci_high"])
    rows = [*r.scenes.items(), ("overall", r.overall)]
    for name, s in rows:
        w.writerow([r.run["name"], r.run["agent"], r.run["simulator"], name, s.n,
                    "" if s.mean is None else f"{s.mean:.4f}",
                    "" if s.ci_low is None else f"{s.ci_low:.4f}",
                    "" if s.ci_high is None else f"{s.ci_high:.4f}"])
    return out.getvalue()


def comparison_markdown(c: Comparison) -> str:
    lines = [f"# eibench compare: A = {c.a['name']} (`{c.a['agent']}`), "
             f"B = {c.b['name']} (`{c.b['agent']}`)", "",
             "| scene | pairs | A | B | B - A | 95% CI (paired bootstrap) |",
             "|---|---:|---:|---:|---:|---|"]
    for name, s in [*c.scenes.items(), ("overall", c.overall)]:
        lines.append(f"| {name} | {s['pairs']} | {_fmt(s['a'])} | {_fmt(s['b'])} | "
                     f"{_fmt(s['diff'])} | {_ci(s)} |")
    return "\n".join(lines) + "\n"


def comparison_csv(c: Comparison) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["scene", "pairs", "a", "b", "diff", "ci_low", "ci_high"])
    for name, s in [*c.scenes.items(), ("overall", c.overall)]:
        w.writerow([name, s["pairs"], s["a"], s["b"], s["diff"], s["ci_low"], s["ci_high"]])
    return out.getvalue()


def to_json(obj: Report | Comparison) -> str:
    return json.dumps(obj.to_dict(), ensure_ascii=False, indent=1)
