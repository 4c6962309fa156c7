"""Run detail: summary, config, results, metrics, arrays and log of one run.

Focus starts in the summary, so PageDown scrolls it at once; ``1``–``6`` switch
tabs from anywhere (shift+tab reaches the tab bar too). The summary's wide
Markdown tables are stacked when the screen is narrow. The Metrics tab plots any
recorded metric (``m`` picks the next one), not only the loss.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from workbench.core.errors import WorkbenchError
from workbench.core.lab import View
from workbench.core.runs import Run
from workbench.render.plots import loss_spec
from workbench.render.series import LossCurves
from workbench.tui.screens.array import ArrayScreen, default_view
from workbench.tui.screens.dialogs import PathPrompt
from workbench.tui.widgets.fit_markdown import FitMarkdown
from workbench.tui.widgets.plot import PlotView
from workbench.tui.widgets.runs_table import STATUS_STYLE
from workbench.tui.widgets.step_results import ResultsTable

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

__all__ = ["RunDetailScreen", "metric_names", "summary_markdown"]

LOG_LINES = 300
TABS = ("tab-summary", "tab-config", "tab-results", "tab-metrics", "tab-arrays", "tab-log")


def metric_names(columns: dict[str, Any]) -> list[str]:
    """The plottable metrics among metric columns: numeric, not an index; ``loss`` first."""
    index = {"step", "seed", "task", "group", "layer", "hook"}
    names = [
        k
        for k, v in columns.items()
        if k not in index and np.issubdtype(np.asarray(v).dtype, np.number)
    ]
    return sorted(names, key=lambda k: (k != "loss", k))


def summary_markdown(run: Run) -> str:
    """The run's facts and its ``summary.md`` as Markdown."""
    info = run.info
    seeds = info.get("seeds", {})
    seed_text = (
        f"{seeds.get('count')} (from {seeds.get('first')})" if isinstance(seeds, dict) else ""
    )
    facts = [
        ("lab", info.get("lab", "?")),
        ("created", info.get("created", "")),
        ("finished", info.get("finished", "")),
        ("device", info.get("device", "")),
        ("seeds", seed_text),
        ("steps done", ", ".join(info.get("steps_done", []))),
        ("workbench", info.get("workbench_version", "")),
        ("torch", info.get("torch_version", "")),
    ]
    facts += [("tags", ", ".join(info.get("tags", []))), ("note", info.get("note", ""))]
    lines = [f"# Run {run.id}", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts if value not in ("", None)]
    if info.get("error"):
        lines += ["", f"**Error:** {info['error']}"]
    summary = run.text("summary.md")
    if summary:
        lines += ["", "---", "", summary]
    return "\n".join(lines)


class RunDetailScreen(Screen[None]):
    """Everything about one run, in tabs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export"),
        Binding("l", "live", "Live"),
        Binding("s", "stepper", "Stepper", tooltip="Open the lab stepper with this run"),
        Binding("t", "tags", "Tags", tooltip="Edit this run's tags (stored in run.toml)"),
        Binding("a", "note", "Note", show=False, tooltip="Edit this run's note"),
        Binding("g", "toggle_log", "Log scale", show=False),
        Binding("m", "next_metric", "Next metric", show=False, tooltip="Plot the next metric"),
        *(Binding(str(i + 1), f"tab({i})", f"Tab {i + 1}", show=False) for i in range(len(TABS))),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    class MetricsRead(Message):
        """The metrics were read in a worker."""

        def __init__(self, columns: dict[str, Any], n: int, views: list[View]) -> None:
            super().__init__()
            self.columns = columns
            self.n = n
            self.views = views

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.log_y = True
        self.curves: LossCurves | None = None
        self.columns: dict[str, Any] = {}
        self.metric_names: list[str] = []
        self.metric = "loss"
        self.n_records = 0
        self.array_items: list[tuple[str, View]] = []

    @property
    def wb(self) -> WorkbenchApp:
        """The workbench app."""
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        """Header line and the tabs."""
        yield Header()
        yield Static("", id="detail-title")
        with TabbedContent(id="detail-tabs"):
            with TabPane("Summary", id="tab-summary"), VerticalScroll(id="detail-summary-scroll"):
                yield FitMarkdown("", id="detail-summary")
            with TabPane("Config", id="tab-config"):
                yield DataTable(id="detail-config", cursor_type="row", zebra_stripes=True)
            with TabPane("Results", id="tab-results"):
                yield Static("", id="detail-results-holder")
            with TabPane("Metrics", id="tab-metrics"):
                yield Static("reading metrics…", id="detail-metrics-note", markup=False)
                yield PlotView(id="detail-loss", placeholder="no metrics in this run")
            with TabPane("Arrays", id="tab-arrays"):
                yield DataTable(id="detail-arrays", cursor_type="row", zebra_stripes=True)
            with TabPane("Log", id="tab-log"), VerticalScroll():
                yield Static("", id="detail-log", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the run folder."""
        self.sub_title = self.run.id
        try:
            self._fill()
        except WorkbenchError as err:
            self.query_one("#detail-title", Static).update(
                Text(f"Cannot read run {self.run.id}: {err}", style="bold red")
            )
            return
        self.query_one("#detail-summary-scroll").focus()
        self._read_metrics()

    def action_tab(self, index: int) -> None:
        """Show tab ``index`` (keys 1–6)."""
        self.query_one(TabbedContent).active = TABS[index]

    def _fill(self) -> None:
        info = self.run.info
        status = self.run.status
        title = Text.assemble(
            (self.run.id, "bold"),
            f" · {info.get('lab', '?')} · ",
            (status, STATUS_STYLE.get(status, "")),
        )
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#detail-summary", FitMarkdown).set_source(summary_markdown(self.run))
        config = self.query_one("#detail-config", DataTable)
        config.add_columns("key", "value")
        for key, value in self.run.config.items():
            config.add_row(key, str(value), key=key)
        holder = self.query_one("#detail-results-holder", Static)
        results = self.run.results
        if results:
            holder.display = False
            self.query_one("#tab-results", TabPane).mount(
                ResultsTable(results, id="detail-results")
            )
        else:
            holder.update("no results yet")
        self._fill_arrays()
        log_lines = self.run.log_text().splitlines()[-LOG_LINES:]
        self.query_one("#detail-log", Static).update("\n".join(log_lines) or "(empty log)")

    def _fill_arrays(self) -> None:
        table = self.query_one("#detail-arrays", DataTable)
        table.add_columns("array", "shape", "axes", "description")
        for name in self.run.array_names():
            meta = self.run.array_meta(name)
            shape = meta.get("shape", [])
            self.array_items.append((name, default_view(self.run, name)))
            table.add_row(
                name,
                "×".join(str(n) for n in shape),
                ", ".join(meta.get("axes", [])),
                str(meta.get("description", "")),
                key=name,
            )

    def _lab_views(self) -> list[View]:
        """The lab's array views (importing the lab: call from a worker)."""
        try:
            lab = self.wb.cached_lab(self.run.lab)
        except Exception:  # the lab is not installed here: default views will do
            return []
        kinds = ("heatmap", "spectrum", "curve", "scatter")
        return [v for step in lab.steps for v in step.views if v.kind in kinds]

    @work(thread=True, exit_on_error=False, group="detail-metrics")
    def _read_metrics(self) -> None:
        views = self._lab_views()
        try:
            columns = self.run.metrics()
        except (WorkbenchError, OSError, ValueError) as err:
            self.wb.post_error(f"cannot read the metrics of {self.run.id}: {err}")
            columns = {}
        n = len(next(iter(columns.values()))) if columns else 0
        self.post_message(self.MetricsRead(columns, n, views))

    def on_run_detail_screen_metrics_read(self, message: MetricsRead) -> None:
        """List the metrics, plot the first (the loss when there is one), use the lab's views."""
        self.columns = message.columns
        self.n_records = message.n
        self.metric_names = metric_names(message.columns)
        if self.metric not in self.metric_names and self.metric_names:
            self.metric = self.metric_names[0]
        self.array_items = [
            (name, next((v for v in message.views if fnmatch.fnmatch(name, v.source)), view))
            for name, view in self.array_items
        ]
        self._draw_loss()

    def action_next_metric(self) -> None:
        """Plot the next recorded metric."""
        if len(self.metric_names) > 1:
            i = self.metric_names.index(self.metric) if self.metric in self.metric_names else -1
            self.metric = self.metric_names[(i + 1) % len(self.metric_names)]
            self._draw_loss()

    def _draw_loss(self) -> None:
        names = self.metric_names
        which = f"{names.index(self.metric) + 1}/{len(names)}" if self.metric in names else "0/0"
        keys = " · m next metric" if len(names) > 1 else ""
        note = f"{self.n_records} records · metric {which}: {self.metric}{keys} · g log scale"
        self.query_one("#detail-metrics-note", Static).update(note)
        self.curves = LossCurves.from_columns(self.columns, key=self.metric)
        if self.curves.n_series:
            finite = self.curves.values[np.isfinite(self.curves.values)]
            log_y = self.log_y and bool(finite.size) and bool((finite > 0).all())
            spec = loss_spec(self.curves, log_y=log_y, title=self.metric)
            self.query_one("#detail-loss", PlotView).spec = spec

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on an array opens it."""
        if event.data_table.id != "detail-arrays":
            return
        event.stop()
        self.app.push_screen(ArrayScreen(self.run, self.array_items, event.cursor_row))

    def action_toggle_log(self) -> None:
        """Switch the loss axis between log and linear."""
        self.log_y = not self.log_y
        self._draw_loss()

    def action_export(self) -> None:
        """Export this run."""
        self.wb.export_run(self.run.id)

    def action_live(self) -> None:
        """Follow this run live."""
        self.wb.follow_run(self.run)

    def action_tags(self) -> None:
        """Edit the run's tags (space- or comma-separated words)."""
        tags = " ".join(self.run.info.get("tags", []))
        self.app.push_screen(
            PathPrompt(
                f"Tags of run {self.run.id}",
                value=tags,
                hint="words separated by spaces · empty removes them · escape cancels",
                allow_empty=True,
            ),
            lambda text: (
                None if text is None else self._save_notes(tags=text.replace(",", " ").split())
            ),
        )

    def action_note(self) -> None:
        """Edit the run's one-line note."""
        self.app.push_screen(
            PathPrompt(
                f"Note on run {self.run.id}",
                value=str(self.run.info.get("note", "")),
                hint="one line · empty removes it · escape cancels",
                allow_empty=True,
            ),
            lambda text: None if text is None else self._save_notes(note=text),
        )

    def _save_notes(self, *, note: str | None = None, tags: list[str] | None = None) -> None:
        if self.wb.save_notes(self.run, note=note, tags=tags):
            self.query_one("#detail-summary", FitMarkdown).set_source(summary_markdown(self.run))

    def action_stepper(self) -> None:
        """Open this run's lab in the stepper, with this run's config and results."""
        try:
            lab_name = self.run.lab
        except WorkbenchError as err:
            self.wb.report(err)
            return
        self.wb.open_lab(lab_name, self.run)
