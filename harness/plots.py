"""PNG charts for a report (matplotlib, headless)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from eibench.harness.report import Report
from eibench.harness.store import RunRow, Store
from eibench.scenarios.model import MAX_ROUNDS, SCENES


def write_plots(store: Store, run: RunRow, report: Report, out_dir: str | Path) -> list[Path]:
    """Write per-scene score bars and average anger/trust trajectories; return the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    names = list(report.scenes)
    means = [report.scenes[n].mean or 0.0 for n in names]
    lows = [m - (report.scenes[n].ci_low or m) for n, m in zip(names, means, strict=True)]
    highs = [(report.scenes[n].ci_high or m) - m for n, m in zip(names, means, strict=True)]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, means, yerr=[lows, highs], capsize=4, color="#4C72B0")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylim(-100, 100)
    ax.set_ylabel("score (100 x mean)")
    ax.set_title(f"{run.name}: {run.agent} (overall {report.overall.mean or 0:+.1f})")
    fig.tight_layout()
    path = out / f"{run.name}-scenes.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    # Average trajectories: a dialogue that ended early keeps its last state in later rounds.
    sums: dict[str, list[list[float]]] = defaultdict(lambda: [[0.0, 0.0, 0] for _ in range(MAX_ROUNDS + 1)])
    turns = store.turns_for_run(run.id)
    for e in store.episodes(run.id, status="finished"):
        scenario = store.get_scenario(e.scenario_key)
        states = [(scenario.start.anger, scenario.start.trust)]
        for t in turns.get(e.id, []):
            if t.speaker == "user" and t.round > 0 and t.anger_after is not None:
                states.append((t.anger_after, t.trust_after or 0))
        while len(states) < MAX_ROUNDS + 1:
            states.append(states[-1])
        for r, (a, tr) in enumerate(states[: MAX_ROUNDS + 1]):
            cell = sums[e.scene][r]
            cell[0] += a
            cell[1] += tr
            cell[2] += 1
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
    for scene in SCENES:
        if scene not in sums:
            continue
        cells = sums[scene]
        rounds = list(range(MAX_ROUNDS + 1))
        axes[0].plot(rounds, [c[0] / c[2] for c in cells], marker="o", label=scene)
        axes[1].plot(rounds, [c[1] / c[2] for c in cells], marker="o", label=scene)
    axes[0].set_title("anger (lower is better)")
    axes[1].set_title("trust (higher is better)")
    for ax in axes:
        ax.set_xlabel("round")
        ax.set_ylim(0, 100)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{run.name}-trajectories.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)
    return written
