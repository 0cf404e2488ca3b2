"""Training logs: the console, a JSONL file always, TensorBoard and W&B when installed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["MetricsLogger", "resolve_loggers"]

CONSOLE_KEYS = ("loss", "pg_loss", "entropy", "clip_frac", "kl", "grad_norm", "lr",
                "tokens_per_s", "mean_score", "mean_reward", "val_mean_score")


def resolve_loggers(report_to: str) -> list[str]:
    """The loggers ``report_to`` asks for that can run here."""
    wanted = {p.strip() for p in report_to.split(",") if p.strip()}
    if "none" in wanted:
        return []
    have_tb = importlib.util.find_spec("tensorboard") is not None
    have_wandb = importlib.util.find_spec("wandb") is not None
    out = []
    if "tensorboard" in wanted or ("auto" in wanted and have_tb):
        if not have_tb:
            raise RuntimeError("report_to asks for tensorboard but it is not installed "
                               "(pip install tensorboard)")
        out.append("tensorboard")
    wandb_env = bool(os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE"))
    if "wandb" in wanted or ("auto" in wanted and have_wandb and wandb_env):
        if not have_wandb:
            raise RuntimeError("report_to asks for wandb but it is not installed (pip install wandb)")
        out.append("wandb")
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


class MetricsLogger:
    """Writes each metrics record everywhere it should go. Only the main process logs.

    Args:
        output_dir: ``metrics.jsonl`` (and TensorBoard's ``runs/``) go here.
        report_to: see :class:`~eibench.train.config.CTCGRPOConfig.report_to`.
        run_name: name for W&B.
        config: stored with the W&B run.
        enabled: false on non-main processes.
        stream: console stream (stderr by default).
    """

    def __init__(self, output_dir: str | Path, *, report_to: str = "auto",
                 run_name: str | None = None, config: dict[str, Any] | None = None,
                 enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.path = Path(output_dir) / "metrics.jsonl"
        self._tb: Any = None
        self._wandb: Any = None
        self.started = time.time()
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loggers = resolve_loggers(report_to)
        if "tensorboard" in loggers:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(output_dir) / "runs"))
        if "wandb" in loggers:
            import wandb

            self._wandb = wandb.init(name=run_name or Path(output_dir).name, config=config or {},
                                     reinit=True)

    def log(self, metrics: dict[str, Any], *, step: int, kind: str = "train") -> None:
        """Log one record (numbers are also sent to TensorBoard/W&B under ``kind/``)."""
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": round(time.time() - self.started, 2),
                  **metrics}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        keys = CONSOLE_KEYS if kind in ("train", "pass") else [
            k for k, v in metrics.items() if isinstance(v, (int, float, str)) or v is None]
        shown = [f"{k}={_fmt(metrics[k])}" for k in keys if k in metrics]
        print(f"[{kind} {step}] " + " ".join(shown), file=self.stream, flush=True)
        numbers = {f"{kind}/{k}": float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(float(v))}
        if self._tb is not None:
            for key, value in numbers.items():
                self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(numbers, step=step)

    def drop_after(self, step: int) -> int:
        """Forget records logged after ``step`` (a resumed run replays those steps, so keeping
        them would log each twice). Returns how many records were dropped."""
        if not self.enabled or not self.path.exists():
            return 0
        kept: list[str] = []
        dropped = 0
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                later = int(json.loads(line).get("step", 0)) > step
            except (ValueError, AttributeError):
                later = False  # a damaged line is kept as it is: never lose a record silently
            if later:
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            tmp.replace(self.path)
        return dropped

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
