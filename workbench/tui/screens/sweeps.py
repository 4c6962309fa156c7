"""Sweeps in the TUI: the project's sweeps as groups, each opening into its cells and runs.

``SweepsScreen`` lists the sweeps (cells done, running and failed, and an ETA from the
finished cells' durations); enter opens ``SweepScreen``: the cells with their swept values,
state and headline (enter on a cell opens its run), and a heatmap of a result key over two
swept axes (``k`` picks the key, ``a`` swaps the axes), or over one axis as a single row.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.tui.widgets.heatmap import HeatmapView

if TYPE_CHECKING:
    from workbench.core.sweep import Sweep
    from workbench.tui.app import WorkbenchApp

__all__ = ["SweepScreen", "SweepsScreen", "sweep_eta"]

REFRESH_SECONDS = 2.0


def _duration(run: Any) -> float | None:
    info = run.info
    start, end = info.get("created"), info.get("finished")
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        return (end - start).total_seconds()
    return None


def sweep_eta(project: Any, sweep: Sweep) -> float:
    """Seconds left: the mean finished cell's duration × cells left / jobs (NaN before one ends)."""
    from workbench.core.sweep import runs_of

    durations = [
        d
        for cell, run in runs_of(project, sweep)
        if run is not None and cell.state == "completed" and (d := _duration(run)) is not None
    ]
    left = sum(1 for c in sweep.cells if c.state in ("pending", "running"))
    if not durations:
        return math.nan if left else 0.0
    jobs = max(1, int(sweep.options.get("jobs", 1)))
    return sum(durations) / len(durations) * left / jobs


def _eta_text(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


class SweepsScreen(Screen[None]):
    """The project's sweeps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    class Read(Message):
        """The worker read the sweeps."""

        def __init__(self, rows: list[tuple[str, ...]]) -> None:
            super().__init__()
            self.rows = rows

    @property
    def wb(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Sweeps: enter opens one · `workbench sweep LAB --grid ...` starts one",
                     id="sweeps-bar", markup=False)  # fmt: skip
        table: DataTable[str] = DataTable(id="sweeps", cursor_type="row", zebra_stripes=True)
        table.add_columns("sweep", "lab", "grid", "done", "run", "fail", "ETA")
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(REFRESH_SECONDS, self.action_refresh)
        self.action_refresh()

    def action_refresh(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="sweeps", exit_on_error=False)
    def _read(self) -> None:
        from workbench.core.sweep import reconcile, sweeps

        rows: list[tuple[str, ...]] = []
        for sweep in sweeps(self.wb.project):
            reconcile(self.wb.project, sweep)
            c = sweep.counts()
            grid = "×".join(f"{k}({len(v)})" for k, v in sweep.grid.items())
            rows.append(
                (
                    sweep.id,
                    sweep.lab,
                    grid,
                    f"{c['completed']}/{len(sweep.cells)}",
                    str(c["running"]),
                    str(c["failed"]),
                    _eta_text(sweep_eta(self.wb.project, sweep)),
                )
            )
        self.post_message(self.Read(rows))

    def on_sweeps_screen_read(self, message: Read) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for r in message.rows:
            table.add_row(*r, key=r[0])
        if message.rows:
            table.move_cursor(row=min(row, len(message.rows) - 1))
        else:
            self.query_one("#sweeps-bar", Static).update(
                "No sweeps in this project yet: `workbench sweep LAB --grid KEY=[...]` starts one"
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            self.notify("no sweep selected", severity="warning")
            return
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        if key:
            self.app.push_screen(SweepScreen(str(key)))


class SweepScreen(Screen[None]):
    """One sweep: its cells, and a result key over its swept axes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open_run", "Open run", show=False),
        Binding("k", "next_key", "Key"),
        Binding("a", "swap_axes", "Axes"),
        Binding("tab", "app.focus_next", "Focus", show=False),
    ]

    def __init__(self, sweep_id: str) -> None:
        super().__init__()
        self.sweep_id = sweep_id
        self.keys: list[str] = []
        self.key_index = 0
        self.axes: list[str] = []

    @property
    def wb(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="sweep-bar", markup=False)
        yield DataTable(id="cells", cursor_type="row", zebra_stripes=True)
        yield HeatmapView([[math.nan]], id="sweep-heatmap")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(REFRESH_SECONDS, self.refresh_sweep)
        self.refresh_sweep()

    def _sweep(self) -> Sweep | None:
        from workbench.core.errors import WorkbenchError
        from workbench.core.sweep import open_sweep, reconcile

        try:
            return reconcile(self.wb.project, open_sweep(self.wb.project, self.sweep_id))
        except WorkbenchError as err:
            self.notify(str(err), severity="error")
            return None

    def refresh_sweep(self) -> None:
        from workbench.core.sweep_report import sweep_rows

        sweep = self._sweep()
        if sweep is None:
            return
        self.axes = self.axes or list(sweep.grid)
        c = sweep.counts()
        eta = _eta_text(sweep_eta(self.wb.project, sweep))
        self.query_one("#sweep-bar", Static).update(
            f"{sweep.id} · {sweep.lab} · {sweep.engine} · {c['completed']} done, "
            f"{c['running']} running, {c['failed']} failed of {len(sweep.cells)} · ETA {eta}"
        )
        header, rows = sweep_rows(self.wb.project, sweep)
        table = self.query_one("#cells", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*header)
        for row in rows:
            table.add_row(*(_short(v) for v in row), key=str(row[header.index("run")]) or None)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        self._numeric_keys(sweep)
        self._draw(sweep)

    def _numeric_keys(self, sweep: Sweep) -> None:
        from workbench.core.sweep import runs_of

        if self.keys:
            return
        for cell, run in runs_of(self.wb.project, sweep):
            if run is not None and cell.state == "completed":
                self.keys = sorted(
                    k
                    for k, v in run.results.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                )
                break

    def _draw(self, sweep: Sweep) -> None:
        from workbench.core.sweep_report import aggregate, grid_matrix

        view = self.query_one(HeatmapView)
        if not self.keys:
            view.display = False
            return
        view.display = True
        key = self.keys[self.key_index % len(self.keys)]
        x = self.axes[0]
        y = self.axes[1] if len(self.axes) > 1 else self.axes[0]
        xs, ys, m = grid_matrix(aggregate(self.wb.project, sweep, key), x, y)
        if y == x:  # one swept axis: the key as one row over it
            m = m.diagonal().reshape(1, -1)
            ys = [key.rsplit("/", 1)[-1]]
        view.values = m
        view.row_labels = [_short(v) for v in ys]
        view.col_labels = [_short(v) for v in xs]
        view.title = f"{key} (mean over repeats) · k: next key, a: swap axes"
        view.x_label, view.y_label = x, (y if y != x else "")
        row, col = view.cursor
        if row >= m.shape[0] or col >= m.shape[1]:
            view.cursor = (0, 0)
        view.refresh()

    def action_next_key(self) -> None:
        if self.keys:
            self.key_index = (self.key_index + 1) % len(self.keys)
            sweep = self._sweep()
            if sweep is not None:
                self._draw(sweep)

    def action_swap_axes(self) -> None:
        if len(self.axes) > 1:
            self.axes[0], self.axes[1] = self.axes[1], self.axes[0]
            sweep = self._sweep()
            if sweep is not None:
                self._draw(sweep)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one("#cells", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        if key:
            self.wb.open_run(str(key))
        else:
            self.notify("this cell has not started a run yet", severity="warning")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    text = str(value)
    try:
        return _short(float(text)) if text and not text.isdigit() else text
    except ValueError:
        return text if len(text) <= 40 else text[:39] + "…"
