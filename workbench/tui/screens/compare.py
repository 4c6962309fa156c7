"""Two or more runs side by side: results, config differences, and loss curves overlaid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Run
from workbench.render.plots import Line, PlotSpec
from workbench.render.series import LossCurves, seed_spread
from workbench.tui.widgets.plot import PlotView

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

__all__ = ["CompareScreen", "abbreviate_middle", "comparison_rows", "key_width"]

MISSING = "—"

#: Width of each run's value column (cells): ``%.6g`` numbers and short words fit.
VALUE_WIDTH = 12
#: The key column never gets narrower than this, however many runs are compared.
MIN_KEY_WIDTH = 16
#: Cells the table itself uses per column (padding) and for its scroll bar.
CELL_PADDING = 2
SCROLLBAR = 2


def abbreviate_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut from the middle: ``robustness/…/layer2``.

    Long result keys share their start (``robustness/first-bit_vs_...``) and differ
    at the end (``.../layer2``), so cutting the end would make rows look the same.
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail :]


def key_width(screen_width: int, n_runs: int, longest: int) -> int:
    """The key column's width: what the value columns leave, and no more than needed."""
    room = screen_width - SCROLLBAR - (n_runs + 1) * CELL_PADDING - n_runs * VALUE_WIDTH
    return max(MIN_KEY_WIDTH, min(longest, room))


def comparison_rows(
    tables: Sequence[dict[str, Any]], *, only_different: bool = False
) -> list[tuple[str, list[str], bool]]:
    """Rows of a side-by-side table: ``(key, value per run, values differ)``.

    Keys keep their first-seen order across the runs; a run without a key shows ``—``.
    """
    keys: dict[str, None] = {}
    for table in tables:
        keys.update(dict.fromkeys(table))
    rows = []
    for key in keys:
        values = [_show(t[key]) if key in t else MISSING for t in tables]
        differ = len(set(values)) > 1
        if differ or not only_different:
            rows.append((key, values, differ))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CompareScreen(Screen[None]):
    """Runs side by side. Columns are named #1, #2, ... (the legend gives their ids)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f",
            "toggle_filter",
            "Only differences",
            tooltip="Show only the results and config keys that differ (f again: all)",
        ),
        Binding("g", "toggle_log", "Log scale", show=False),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    class CurvesRead(Message):
        """The runs' loss curves were read in a worker."""

        def __init__(self, curves: list[LossCurves]) -> None:
            super().__init__()
            self.curves = curves

    def __init__(self, runs: Sequence[Run]) -> None:
        super().__init__()
        self.runs = list(runs)
        self.only_different = True
        self.log_y = True
        self.curves: list[LossCurves] = []

    @property
    def wb(self) -> WorkbenchApp:
        """The workbench app."""
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        """Legend and tabs."""
        yield Header()
        yield Static(self._legend(), id="compare-legend")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Results", id="tab-cmp-results"):
                yield DataTable(id="compare-results", zebra_stripes=True, cursor_type="row")
            with TabPane("Config", id="tab-cmp-config"):
                yield DataTable(id="compare-config", zebra_stripes=True, cursor_type="row")
            with TabPane("Loss", id="tab-cmp-loss"):
                yield PlotView(id="compare-loss", placeholder="reading metrics…")
        yield Footer(compact=True)

    def _legend(self) -> Text:
        text = Text()
        for i, run in enumerate(self.runs):
            try:
                lab, status = run.lab, run.status
            except WorkbenchError:
                lab, status = "?", "unreadable"
            text.append(f"#{i + 1}", style="bold")
            text.append(f" {run.id} {lab} {status}\n")
        text.rstrip()
        return text

    def on_mount(self) -> None:
        """Fill the tables and read the curves in the background."""
        self.sub_title = f"{len(self.runs)} runs"
        self._fill_results()
        self._fill_config()
        self._read_curves()

    def _tables(self, which: str) -> list[dict[str, Any]]:
        out = []
        for run in self.runs:
            try:
                out.append(run.results if which == "results" else run.config)
            except WorkbenchError:
                out.append({})
        return out

    def on_resize(self) -> None:
        """The key column uses the width there is."""
        self._fill_results()
        self._fill_config()

    def _fill_results(self) -> None:
        self._fill("#compare-results", "result", self._tables("results"), "results")

    def _fill_config(self) -> None:
        self._fill("#compare-config", "config", self._tables("config"), "configs")

    def _fill(self, selector: str, title: str, tables: list[dict[str, Any]], what: str) -> None:
        """One side-by-side table: ``≠`` marks rows that differ; ``f`` hides the others."""
        table = self.query_one(selector, DataTable)
        rows = comparison_rows(tables, only_different=self.only_different)
        longest = max((len(key) for key, _, _ in rows), default=len(title)) + 2
        width = key_width(self.size.width or self.app.size.width, len(self.runs), longest)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_column(title, key="key", width=width)
        for i in range(len(self.runs)):
            table.add_column(f"#{i + 1}", key=f"run{i}", width=VALUE_WIDTH)
        for key, values, differ in rows:
            shown = ("≠ " if differ else "  ") + abbreviate_middle(key, width - 2)
            label = Text(shown, style="bold" if differ else "")
            cells = [abbreviate_middle(v, VALUE_WIDTH) for v in values]
            table.add_row(label, *cells, key=key)
        if not rows:
            note = f"the {what} are identical (f shows all)" if self.only_different else "none"
            table.add_row(Text(note, style="dim"), *[""] * len(self.runs))
        if 0 <= cursor < table.row_count:
            table.move_cursor(row=cursor)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the highlighted row's whole key and values under the legend."""
        self._show_key(event.data_table)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A table got focus: show its highlighted row in full."""
        if isinstance(event.widget, DataTable):
            self._show_key(event.widget)

    def _show_key(self, table: DataTable[Any]) -> None:
        legend = self.query_one("#compare-legend", Static)
        key = ""
        if table.row_count and table.cursor_row >= 0 and table.has_focus:
            key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value or ""
        if not key:
            legend.update(self._legend())
            return
        which = "results" if table.id == "compare-results" else "config"
        values = [str(t.get(key, MISSING)) for t in self._tables(which)]
        text = self._legend()
        text.append(f"\n▸ {key}: ", style="bold")
        text.append(" | ".join(f"#{i + 1} {v}" for i, v in enumerate(values)))
        legend.update(text)

    @work(thread=True, exit_on_error=False, group="compare-curves")
    def _read_curves(self) -> None:
        curves = []
        for run in self.runs:
            try:
                curves.append(LossCurves.from_columns(run.metrics()))
            except (WorkbenchError, OSError, ValueError):
                curves.append(LossCurves.empty())
        self.post_message(self.CurvesRead(curves))

    def on_compare_screen_curves_read(self, message: CurvesRead) -> None:
        """Overlay each run's median loss."""
        self.curves = message.curves
        self._draw()

    def _draw(self) -> None:
        lines = []
        for i, curves in enumerate(self.curves):
            if curves.n_series == 0:
                continue
            median = seed_spread(curves.values).median
            if np.isfinite(median).any():
                lines.append(Line(curves.steps, median, label=f"#{i + 1} median"))
        plot = self.query_one("#compare-loss", PlotView)
        plot.placeholder = "none of these runs logged a loss"
        plot.spec = (
            PlotSpec(
                lines=tuple(lines),
                title="loss: median over seeds" + (" (log)" if self.log_y else ""),
                x_label="step",
                log_y=self.log_y,
            )
            if lines
            else None
        )
        plot.refresh()

    def action_toggle_filter(self) -> None:
        """Show all results and config keys, or only those that differ."""
        self.only_different = not self.only_different
        self._fill_results()
        self._fill_config()
        shown = "only the rows that differ" if self.only_different else "every row"
        self.notify(f"showing {shown}", timeout=2)

    def action_toggle_log(self) -> None:
        """Switch the loss axis between log and linear."""
        self.log_y = not self.log_y
        self._draw()
