"""Two or more runs side by side: results, config differences, and loss curves overlaid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
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

__all__ = ["CompareScreen", "comparison_rows"]

MISSING = "—"

#: Column widths (cells) chosen so two runs fit side by side at 80 columns; longer
#: keys and values are cropped in the table and shown whole in the run detail.
KEY_WIDTH = 40
VALUE_WIDTH = 16


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
            "f", "toggle_filter", "Only differences", tooltip="Show only config keys that differ"
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

    def _fill_results(self) -> None:
        table = self.query_one("#compare-results", DataTable)
        table.add_column("result", key="key", width=KEY_WIDTH)
        for i in range(len(self.runs)):
            table.add_column(f"#{i + 1}", key=f"run{i}", width=VALUE_WIDTH)
        for key, values, _differ in comparison_rows(self._tables("results")):
            table.add_row(key, *values, key=key)

    def _fill_config(self) -> None:
        table = self.query_one("#compare-config", DataTable)
        table.clear(columns=True)
        table.add_column("config", key="key", width=KEY_WIDTH)
        for i in range(len(self.runs)):
            table.add_column(f"#{i + 1}", key=f"run{i}", width=VALUE_WIDTH)
        rows = comparison_rows(self._tables("config"), only_different=self.only_different)
        for key, values, differ in rows:
            label = Text(("≠ " if differ else "  ") + key, style="bold" if differ else "")
            table.add_row(label, *values, key=key)
        if not rows:
            table.add_row(Text("the configs are identical", style="dim"), *[""] * len(self.runs))

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
        """Show all config keys, or only those that differ."""
        self.only_different = not self.only_different
        self._fill_config()

    def action_toggle_log(self) -> None:
        """Switch the loss axis between log and linear."""
        self.log_y = not self.log_y
        self._draw()
