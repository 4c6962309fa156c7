"""A Rich heatmap: labelled axes, a colour scale with values, the selected cell's exact value.

The same renderable is printed by ``workbench show`` (a Rich console) and drawn by
the TUI's heatmap widget, so both show the same thing::

    from rich.console import Console
    Console().print(Heatmap(matrix, row_labels=seeds, col_labels=seeds, title="IR"))

Layout (top to bottom): the title; the axis names (``↓ rows · → columns``); the
column tick labels; one line per matrix row (row label, then one cell per
column); the colour scale with its values; the selected cell's exact value.

When the matrix is larger than the space, a window of it is shown around the
selected cell, and the header says which rows and columns are on screen.

Under ``NO_COLOR`` (colour mode ``none``) each cell shows its number when the
cells are wide enough, else one of eight block characters ``▁▂▃▄▅▆▇█`` whose
height encodes the value; the scale then lists what each character means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

from workbench.render.colors import (
    ColorMode,
    Ramp,
    contrast_text_color,
    detect_color_mode,
    get_ramp,
)
from workbench.render.numbers import format_value

__all__ = ["LEVEL_CHARS", "Heatmap", "HeatmapLayout", "level_index", "normalise", "short_labels"]

#: Characters for NO_COLOR cells, lowest to highest value.
LEVEL_CHARS = "▁▂▃▄▅▆▇█"
NAN_CHAR = "·"
#: Width of a cell that shows a number (``0.934``, ``-0.12``).
NUMBER_CELL = 6
MIN_CELL = 2
MAX_ROW_LABEL = 12


def normalise(value: float, vmin: float, vmax: float) -> float:
    """Map ``value`` to ``t = (value - vmin) / (vmax - vmin)`` clipped to ``[0, 1]``.

    A constant matrix (``vmax == vmin``) maps every value to 0.5, the middle
    of the ramp, so it does not read as "all minimum". NaN stays NaN.
    """
    if math.isnan(value):
        return math.nan
    if vmax <= vmin:
        return 0.5
    return min(1.0, max(0.0, (value - vmin) / (vmax - vmin)))


def level_index(t: float, levels: int = len(LEVEL_CHARS)) -> int:
    """The level ``0..levels-1`` of a normalised value: ``floor(t * levels)``, top-inclusive."""
    return min(levels - 1, max(0, int(t * levels)))


@dataclass(frozen=True)
class HeatmapLayout:
    """Where everything goes, decided from the matrix shape and the space available.

    Attributes:
        cell_width: Characters per cell.
        label_width: Characters for the row labels (0 when there are none).
        show_numbers: Cells print their value.
        rows: Matrix row indices on screen, in order.
        cols: Matrix column indices on screen, in order.
    """

    cell_width: int
    label_width: int
    show_numbers: bool
    rows: range
    cols: range


class Heatmap:
    """A Rich renderable heatmap of a 2-D array.

    Args:
        values: The matrix, ``(n_rows, n_cols)``; NaN cells are drawn as ``·``.
        row_labels: One label per row (defaults to ``0, 1, ...``).
        col_labels: One label per column (defaults to ``0, 1, ...``).
        title: Caption above the map.
        x_label: What the columns are (e.g. ``"seed"``).
        y_label: What the rows are.
        vmin: Value at the low end of the ramp (default: the smallest finite value).
        vmax: Value at the high end (default: the largest finite value).
        ramp: A ramp name (``viridis``, ``magma``, ``gray``, ``coolwarm``) or a :class:`Ramp`.
        selected: ``(row, col)`` of the selected cell, shown with ``◆`` and its exact value.
        mode: ``truecolor``, ``256`` or ``none``; ``None`` asks the console (and ``NO_COLOR``).
        max_height: Lines available (``None``: as many as the console offers, else all rows).

    Raises:
        ValueError: if ``values`` is not 2-D or labels do not match its shape.
    """

    def __init__(
        self,
        values: Any,
        *,
        row_labels: Sequence[str] | None = None,
        col_labels: Sequence[str] | None = None,
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        vmin: float | None = None,
        vmax: float | None = None,
        ramp: str | Ramp = "viridis",
        selected: tuple[int, int] | None = None,
        mode: ColorMode | None = None,
        max_height: int | None = None,
    ) -> None:
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(
                f"a heatmap needs a 2-D array (n_rows, n_cols); got shape {matrix.shape}"
            )
        n_rows, n_cols = matrix.shape
        self.values = matrix
        self.row_labels = _labels(row_labels, n_rows, "row_labels")
        self.col_labels = _labels(col_labels, n_cols, "col_labels")
        # Tick labels are abbreviated (blocks.3.hook_resid_mid -> 3.mid); the selected
        # cell's line gives the full names.
        self.row_ticks = short_labels(self.row_labels)
        self.col_ticks = short_labels(self.col_labels)
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        finite = matrix[np.isfinite(matrix)]
        self.vmin = (
            float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
        )
        self.vmax = (
            float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 1.0)
        )
        self.ramp = get_ramp(ramp) if isinstance(ramp, str) else ramp
        if selected is not None:
            r, c = selected
            selected = (min(max(r, 0), max(n_rows - 1, 0)), min(max(c, 0), max(n_cols - 1, 0)))
        self.selected = selected if n_rows and n_cols else None
        self.mode = mode
        self.max_height = max_height

    # -- pure pieces (tested directly) ---------------------------------------------------------

    def cell_t(self, row: int, col: int) -> float:
        """Normalised value of a cell (NaN for a NaN cell)."""
        return normalise(float(self.values[row, col]), self.vmin, self.vmax)

    def layout(self, width: int, height: int | None, mode: ColorMode) -> HeatmapLayout:
        """Choose cell width, number display and the visible window for a given space.

        Args:
            width: Characters available per line.
            height: Lines available for the whole heatmap, or ``None`` for unlimited.
            mode: The colour mode (numbers are preferred under ``none``).
        """
        n_rows, n_cols = self.values.shape
        label_width = min(MAX_ROW_LABEL, max((len(s) for s in self.row_ticks), default=0))
        label_width = label_width + 1 if label_width else 0
        room = max(MIN_CELL, width - label_width)
        # Numbers need NUMBER_CELL characters per column; fall back to colour or glyph cells.
        if n_cols and n_cols * NUMBER_CELL <= room:
            cell_width, show_numbers = NUMBER_CELL, True
        elif n_cols * 3 <= room:
            cell_width, show_numbers = 3, False
        else:
            cell_width, show_numbers = MIN_CELL, False
        visible_cols = max(1, min(n_cols, room // cell_width))
        visible_rows = n_rows
        if height is not None:
            chrome = self._chrome_lines(width, mode, cell_width)
            visible_rows = max(1, min(n_rows, height - chrome))
        sel_r, sel_c = self.selected if self.selected is not None else (0, 0)
        rows = _window(n_rows, visible_rows, sel_r)
        cols = _window(n_cols, visible_cols, sel_c)
        return HeatmapLayout(cell_width, label_width, show_numbers, rows, cols)

    def _label_rows(self, cell_width: int) -> int:
        """Lines of column labels: two (staggered) when a label is wider than its cell."""
        widest = max((len(s) for s in self.col_ticks), default=0)
        return 1 if widest < cell_width else 2

    def _chrome_lines(self, width: int, mode: ColorMode, cell_width: int = MIN_CELL) -> int:
        """Lines used by everything except the matrix rows."""
        lines = self._label_rows(cell_width)  # column labels
        lines += 1 if self.title else 0
        lines += 1 if (self.x_label or self.y_label) else 0
        lines += len(list(self._scale_lines(width, mode)))
        lines += 1 if self.selected is not None else 0
        return lines

    # -- Rich protocol ---------------------------------------------------------------------------

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        n_cols = self.values.shape[1]
        label = min(MAX_ROW_LABEL, max((len(s) for s in self.row_ticks), default=0)) + 1
        widest = label + n_cols * NUMBER_CELL
        return Measurement(min(options.max_width, label + MIN_CELL), min(options.max_width, widest))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        mode = self.mode or detect_color_mode(console)
        height = self.max_height if self.max_height is not None else options.height
        yield from self.lines(options.max_width, height, mode)

    def lines(self, width: int, height: int | None, mode: ColorMode) -> Iterator[Text]:
        """The heatmap as lines of styled text, for a given space and colour mode."""
        n_rows, n_cols = self.values.shape
        if n_rows == 0 or n_cols == 0:
            yield Text(f"{self.title}: empty array {self.values.shape}".strip(": "))
            return
        lay = self.layout(width, height, mode)
        if self.title:
            yield Text(self.title, style="bold", overflow="ellipsis", no_wrap=True)
        if self.x_label or self.y_label:
            yield self._axes_line(lay, width)
        yield from self._col_label_lines(lay)
        for r in lay.rows:
            yield self._row_line(r, lay, mode)
        yield from self._scale_lines(width, mode)
        if self.selected is not None:
            yield self._selected_line(width)

    # -- lines -----------------------------------------------------------------------------------

    def _axes_line(self, lay: HeatmapLayout, width: int) -> Text:
        n_rows, n_cols = self.values.shape
        parts = []
        if self.y_label:
            window = (
                f" {lay.rows.start}–{lay.rows.stop - 1} of {n_rows}"
                if len(lay.rows) < n_rows
                else ""
            )
            parts.append(f"↓ {self.y_label}{window}")
        if self.x_label:
            window = (
                f" {lay.cols.start}–{lay.cols.stop - 1} of {n_cols}"
                if len(lay.cols) < n_cols
                else ""
            )
            parts.append(f"→ {self.x_label}{window}")
        return Text("   ".join(parts), style="italic", overflow="ellipsis", no_wrap=True)

    def _col_label_lines(self, lay: HeatmapLayout) -> Iterator[Text]:
        """Column tick labels, each starting at its cell.

        When labels are wider than a cell (``10`` over 2-character cells) they are
        staggered over two lines, so every column is labelled; a label that still
        collides with a neighbour is left out. The selected column's label is
        placed first so it is always visible.
        """
        rows = self._label_rows(lay.cell_width)
        left = list(range(len(lay.cols)))
        for _ in range(rows):
            text, placed = self._col_label_line(lay, left)
            left = [i for i in left if i not in placed]
            yield text

    def _col_label_line(self, lay: HeatmapLayout, which: list[int]) -> tuple[Text, set[int]]:
        """One line of labels for the visible columns ``which``; returns it and those placed."""
        cw = lay.cell_width
        cols = list(lay.cols)
        total = len(cols) * cw
        taken = [False] * (total + 1)
        placed: dict[int, str] = {}
        order = sorted(which, key=lambda i: (cols[i] != self._sel_col(), i))
        for i in order:
            start = i * cw
            label = self.col_ticks[cols[i]][: max(cw, 8)]
            end = min(total, start + len(label))
            # Keep one blank column between neighbouring labels so they read as two.
            if any(taken[max(0, start - 1) : end + 1]):
                continue
            placed[i] = label[: end - start]
            for k in range(start, end):
                taken[k] = True
        text = Text(" " * lay.label_width, no_wrap=True)
        pos = 0
        for i in sorted(placed):
            start = i * cw
            text.append(" " * (start - pos))
            text.append(placed[i], style=self._label_style(col=cols[i]))
            pos = start + len(placed[i])
        text.append(" " * (total - pos))
        return text, set(placed)

    def _sel_col(self) -> int:
        return self.selected[1] if self.selected is not None else -1

    def _label_style(self, *, row: int | None = None, col: int | None = None) -> str:
        if self.selected is None:
            return "dim"
        if (row is not None and row == self.selected[0]) or (
            col is not None and col == self.selected[1]
        ):
            return "bold reverse"
        return "dim"

    def _row_line(self, r: int, lay: HeatmapLayout, mode: ColorMode) -> Text:
        text = Text(no_wrap=True)
        if lay.label_width:
            label = _fit(self.row_ticks[r], lay.label_width - 1)
            text.append(label.rjust(lay.label_width - 1), style=self._label_style(row=r))
            text.append(" ")
        for c in lay.cols:
            content, style = self._cell(r, c, lay, mode)
            text.append(content, style=style)
        return text

    def _cell(self, r: int, c: int, lay: HeatmapLayout, mode: ColorMode) -> tuple[str, Style]:
        """Text and style of one cell."""
        cw = lay.cell_width
        value = float(self.values[r, c])
        t = normalise(value, self.vmin, self.vmax)
        selected = self.selected == (r, c)
        if math.isnan(t):
            inner = NAN_CHAR
        elif lay.show_numbers:
            inner = format_value(value, cw - 1)
        elif mode == "none":
            inner = LEVEL_CHARS[level_index(t)] * (cw - 1)
        else:
            inner = ""
        if selected:
            inner = "◆" if not lay.show_numbers else inner
        content = inner.rjust(cw - 1)[: cw - 1] + " " if lay.show_numbers else inner.center(cw)
        if mode == "none" or math.isnan(t):
            style = Style(reverse=selected, bold=selected)
            return content, style
        bg = self.ramp.color(t, mode)
        fg_rgb = contrast_text_color(self.ramp.shown_rgb(t, mode))
        fg = Style(color=f"rgb({fg_rgb[0]},{fg_rgb[1]},{fg_rgb[2]})").color
        return content, Style(bgcolor=bg, color=fg, bold=selected, underline=selected)

    def _scale_lines(self, width: int, mode: ColorMode) -> Iterator[Text]:
        lo, hi = _scale_value(self.vmin), _scale_value(self.vmax)
        if mode == "none":
            # Each glyph covers 1/8 of the range; list the lower edge of each level,
            # wrapping onto as many lines as the width needs.
            edges = np.linspace(self.vmin, self.vmax, len(LEVEL_CHARS) + 1)
            entries = [
                f"{ch}≥{format_value(float(edge), 5)}"
                for ch, edge in zip(LEVEL_CHARS, edges[:-1], strict=True)
            ]
            entries.append(f"{NAN_CHAR}=nan")
            line = "scale"
            for entry in entries:
                if len(line) + 1 + len(entry) > width:
                    yield Text(line, style="dim", no_wrap=True, overflow="ellipsis")
                    line = entry
                else:
                    line = f"{line} {entry}"
            yield Text(line, style="dim", no_wrap=True, overflow="ellipsis")
            return
        bar_width = max(8, min(40, width - 2))
        bar = Text(no_wrap=True)
        for i in range(bar_width):
            bar.append(" ", style=Style(bgcolor=self.ramp.color(i / (bar_width - 1), mode)))
        yield bar
        mid = _scale_value((self.vmin + self.vmax) / 2)
        gap = bar_width - len(lo) - len(hi) - len(mid)
        left_gap, right_gap = gap // 2, gap - gap // 2
        values = f"{lo}{' ' * left_gap}{mid}{' ' * right_gap}{hi}" if gap >= 2 else f"{lo} … {hi}"
        yield Text(values, style="dim", no_wrap=True, overflow="ellipsis")

    def _selected_line(self, width: int) -> Text:
        assert self.selected is not None
        r, c = self.selected
        value = float(self.values[r, c])
        shown = "nan" if math.isnan(value) else f"{value:.6g}"
        ylab = f"{self.y_label} " if self.y_label else "row "
        xlab = f"{self.x_label} " if self.x_label else "col "
        # The value first: a narrow screen cuts the names, never the number.
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("◆ ")
        text.append(shown, style="bold")
        text.append(f" at {ylab}{self.row_labels[r]} × {xlab}{self.col_labels[c]}")
        text.truncate(width, overflow="ellipsis")
        return text


def _scale_value(value: float) -> str:
    """A colour-scale value to four significant digits: ``0.25``, ``1``, ``1.5e-5``."""
    text = f"{value:.4g}"
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        sign = "-" if exponent.startswith("-") else ""
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


#: ``blocks.{i}.hook_resid_{pre,mid,post}`` and other ``blocks.{i}.<hook>`` names.
_BLOCK_HOOK = re.compile(r"^blocks\.(\d+)\.(?:hook_)?(?:resid_)?(.+)$")


def short_labels(labels: Sequence[str]) -> list[str]:
    """Tick labels short enough to tell apart: ``blocks.0.hook_resid_pre`` -> ``0.pre``.

    Transformer hook names share a long prefix, so cutting their end makes pre, mid
    and post look the same. Labels are kept as they are when the short forms would
    not all be distinct.
    """
    out = []
    for label in labels:
        match = _BLOCK_HOOK.match(label)
        out.append(f"{match.group(1)}.{match.group(2)}" if match else label)
    return out if len(set(out)) == len(set(labels)) else list(labels)


def _labels(labels: Sequence[str] | None, n: int, name: str) -> list[str]:
    if labels is None:
        return [str(i) for i in range(n)]
    out = [str(s) for s in labels]
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} labels but the array has {n} along that axis")
    return out


def _fit(label: str, width: int) -> str:
    return label if len(label) <= width else label[: max(0, width - 1)] + "…"


def _window(n: int, size: int, focus: int) -> range:
    """``size`` consecutive indices of ``0..n-1`` that contain ``focus``, centred when possible."""
    size = min(n, size)
    start = min(max(0, focus - size // 2), n - size)
    return range(start, start + size)
