"""A small braille line chart of anger and trust over the rounds, with the scenario's anchors.

:func:`render_chart` is pure (size and data in, Rich lines out) so it can be tested without an
app; :class:`StateChart` is the widget that draws it at its current size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

from eibench.harness.store import TurnRecord
from eibench.scenarios.model import Scenario

ANGER_STYLE = "#ff8c42"
TRUST_STYLE = "#4ea1ff"
GOOD_STYLE = "#5fd75f"
BAD_STYLE = "#ff5f5f"
AXIS_STYLE = "#808080"

# Braille dot bits by [row][column] inside one character cell (2 columns x 4 rows of dots).
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_LABEL_WIDTH = 3


@dataclass(frozen=True)
class Curve:
    """One series: ``points`` are (round, value) pairs, drawn as connected segments."""

    label: str
    points: tuple[tuple[float, float], ...]
    style: str


@dataclass(frozen=True)
class Level:
    """A horizontal dotted line (an anchor) with a short label at the right edge."""

    value: float
    label: str
    line_style: str
    label_style: str


@dataclass(frozen=True)
class ChartData:
    """Everything the chart shows."""

    curves: tuple[Curve, ...] = ()
    levels: tuple[Level, ...] = ()
    max_round: int = 8


@dataclass
class _Canvas:
    width: int
    height: int
    bits: dict[tuple[int, int], int] = field(default_factory=dict)
    style: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)

    def dot(self, x: int, y: int, style: str, priority: int) -> None:
        if not (0 <= x < self.width * 2 and 0 <= y < self.height * 4):
            return
        cell = (x // 2, y // 4)
        self.bits[cell] = self.bits.get(cell, 0) | _DOTS[y % 4][x % 2]
        if priority >= self.style.get(cell, (-1, ""))[0]:
            self.style[cell] = (priority, style)

    def line(self, x0: int, y0: int, x1: int, y1: int, style: str, priority: int) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, style, priority)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def row(self, cy: int) -> Text:
        text = Text()
        for cx in range(self.width):
            bits = self.bits.get((cx, cy), 0)
            if bits:
                text.append(chr(0x2800 + bits), style=self.style[(cx, cy)][1])
            else:
                text.append(" ")
        return text


def render_chart(width: int, height: int, data: ChartData, *, y_max: int = 100) -> list[Text]:
    """Draw ``data`` into ``height`` lines of ``width`` cells (axes, labels and legend included).

    Returns an empty list when the space is too small to draw anything legible.
    """
    margin = max((len(level.label) for level in data.levels), default=0)
    margin = min(margin * 2 + 2, 12) if margin else 0
    plot_w = width - _LABEL_WIDTH - 1 - margin
    plot_h = height - 3
    if plot_w < 8 or plot_h < 3:
        return []
    canvas = _Canvas(plot_w, plot_h)
    px_max, py_max = plot_w * 2 - 1, plot_h * 4 - 1
    max_round = max(1, data.max_round)

    def px(x: float) -> int:
        return round(min(max(x, 0.0), max_round) / max_round * px_max)

    def py(y: float) -> int:
        return round((1 - min(max(y, 0.0), y_max) / y_max) * py_max)

    right: dict[int, list[Level]] = {}
    for level in data.levels:
        y = py(level.value)
        for x in range(0, px_max + 1, 4):
            canvas.dot(x, y, level.line_style, 0)
        right.setdefault(y // 4, []).append(level)
    for priority, curve in enumerate(data.curves, start=1):
        pts = [(px(x), py(y)) for x, y in curve.points]
        if len(pts) == 1:
            canvas.dot(*pts[0], curve.style, priority)
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            canvas.line(x0, y0, x1, y1, curve.style, priority)

    y_labels = {py(v) // 4: str(v) for v in (y_max, y_max // 2, 0)}
    lines: list[Text] = []
    for cy in range(plot_h):
        line = Text(y_labels.get(cy, "").rjust(_LABEL_WIDTH), style=AXIS_STYLE)
        line.append("┤" if cy in y_labels else "│", style=AXIS_STYLE)
        line.append_text(canvas.row(cy))
        if margin:
            line.append_text(_level_labels(right.get(cy, []), margin))
        lines.append(line)
    lines.append(Text(" " * _LABEL_WIDTH + "└" + "─" * plot_w, style=AXIS_STYLE))
    lines.append(_x_labels(plot_w, max_round, px))
    lines.append(_legend(data.curves))
    return lines


def _level_labels(levels: Sequence[Level], margin: int) -> Text:
    text = Text(" ")
    for i, level in enumerate(levels):
        if i:
            text.append(" ")
        text.append(level.label, style=level.label_style)
    text.truncate(margin, pad=True)
    return text


def _x_labels(plot_w: int, max_round: int, px: Callable[[float], int]) -> Text:
    cells = [" "] * (plot_w + 1)
    end = -1
    for r in range(max_round + 1):
        label = str(r)
        pos = min(px(r) // 2, plot_w - len(label))
        if pos <= end:
            continue
        cells[pos:pos + len(label)] = list(label)
        end = pos + len(label)
    return Text(" " * (_LABEL_WIDTH + 1) + "".join(cells[:plot_w]).rstrip() + "  round",
                style=AXIS_STYLE)


def _legend(curves: Iterable[Curve]) -> Text:
    text = Text(" " * (_LABEL_WIDTH + 1))
    for curve in curves:
        text.append("━━ ", style=curve.style)
        text.append(f"{curve.label}   ")
    text.append("⠁ ⠁ anchors", style=AXIS_STYLE)
    return text


def trajectory(turns: Sequence[TurnRecord], scenario: Scenario | None = None
               ) -> list[tuple[int, int, int]]:
    """(round, anger, trust) at the start and after every simulator update, from recorded turns."""
    points: list[tuple[int, int, int]] = []
    for turn in turns:
        if not points and turn.anger_before is not None and turn.trust_before is not None:
            points.append((0, turn.anger_before, turn.trust_before))
        if (turn.speaker == "user" and turn.round >= 1 and turn.anger_after is not None
                and turn.trust_after is not None):
            points.append((turn.round, turn.anger_after, turn.trust_after))
    if not points and scenario is not None:
        points.append((0, scenario.start.anger, scenario.start.trust))
    return points


def chart_data(turns: Sequence[TurnRecord], scenario: Scenario | None,
               max_round: int | None = None) -> ChartData:
    """The chart of a dialogue: both curves, and the scenario's success and failure anchors."""
    points = trajectory(turns, scenario)
    curves = (Curve("anger", tuple((r, a) for r, a, _ in points), ANGER_STYLE),
              Curve("trust", tuple((r, t) for r, _, t in points), TRUST_STYLE))
    levels: tuple[Level, ...] = ()
    if scenario is not None:
        levels = (
            Level(scenario.success.anger, f"a+{scenario.success.anger}", f"dim {ANGER_STYLE}",
                  GOOD_STYLE),
            Level(scenario.failure.anger, f"a-{scenario.failure.anger}", f"dim {ANGER_STYLE}",
                  BAD_STYLE),
            Level(scenario.success.trust, f"t+{scenario.success.trust}", f"dim {TRUST_STYLE}",
                  GOOD_STYLE),
            Level(scenario.failure.trust, f"t-{scenario.failure.trust}", f"dim {TRUST_STYLE}",
                  BAD_STYLE),
        )
    if max_round is None:
        max_round = scenario.max_rounds if scenario is not None else 8
    last = max((r for r, _, _ in points), default=0)
    return ChartData(curves=curves, levels=levels, max_round=max(max_round, last))


class StateChart(Widget):
    """Anger and trust over the rounds, with the anchors, redrawn at the widget's size."""

    DEFAULT_CSS = """
    StateChart { height: 14; width: 1fr; }
    """

    def __init__(self, data: ChartData | None = None, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data = data or ChartData()

    @property
    def data(self) -> ChartData:
        return self._data

    def set_data(self, data: ChartData) -> None:
        """Replace what the chart shows and redraw it."""
        if data != self._data:
            self._data = data
            self.refresh()

    def render(self) -> Text:
        lines = render_chart(self.size.width, self.size.height, self._data)
        if not lines:
            return Text("(too small for the chart)", style=AXIS_STYLE)
        return Text("\n").join(lines)
