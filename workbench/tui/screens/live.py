"""Live training: loss curves, progress, converged/diverged seeds, ETA and the live measure.

The screen follows the run folder (see :mod:`workbench.tui.follow`), so it works
the same for a run started here, from the CLI, from another terminal or by an
earlier TUI session. A timer at 4 Hz starts a poll in a thread worker when none
is in flight; the worker posts a :class:`~workbench.tui.messages.FollowUpdate`.
Plots redraw at most twice a second, the progress line at most four times.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from workbench.core.errors import WorkbenchError
from workbench.core.lab import Lab
from workbench.core.runs import Run
from workbench.render.numbers import format_value
from workbench.render.plots import Line, PlotSpec, loss_spec
from workbench.render.series import LossCurves, seed_spread
from workbench.tui.follow import RunFollower, RunSnapshot
from workbench.tui.launch import LaunchError, cancel_run
from workbench.tui.messages import FollowUpdate
from workbench.tui.screens.dialogs import ConfirmScreen
from workbench.tui.widgets.heatmap import HeatmapView
from workbench.tui.widgets.plot import PlotView
from workbench.tui.widgets.runs_table import STATUS_STYLE

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

__all__ = ["LiveScreen", "format_duration", "stats_text"]

POLL_SECONDS = 0.25
PLOT_SECONDS = 0.5


def format_duration(seconds: float | None) -> str:
    """``1:02:03``, ``2:03`` or ``--`` when unknown."""
    if seconds is None or not np.isfinite(seconds):
        return "--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def stats_text(snap: RunSnapshot, n_steps: int | None = None) -> str:
    """The line of live numbers under the progress bar.

    Args:
        snap: What the run folder says.
        n_steps: The lab's number of steps, to say how many are done once it finished.
    """
    if snap.finished:
        done = f"{len(snap.steps_done)}/{n_steps}" if n_steps else str(len(snap.steps_done))
        return f"{snap.status}: {done} steps done · {snap.n_records} loss records"
    parts = []
    if snap.total > 0:
        parts.append(f"{_short(snap.done)}/{_short(snap.total)}")
    sps = snap.info.get("steps_per_second")
    if isinstance(sps, (int, float)):
        parts.append(f"{_short(float(sps))} steps/s")
    elif snap.rate is not None:
        parts.append(f"{_short(snap.rate)}/s")
    parts.append(f"ETA {format_duration(snap.eta_seconds)}")
    for key in ("converged", "diverged"):
        value = snap.info.get(key)
        if isinstance(value, (int, float)):
            total = f"/{snap.n_seeds}" if snap.n_seeds else ""
            parts.append(f"{key} {int(value)}{total}")
    # Labs that match pairs of nets (path-dependence) report these instead of seed counts.
    for key in ("pairs_done", "median_barrier"):
        value = snap.info.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{key.replace('_', ' ')} {_short(float(value))}")
    return " · ".join(parts)


def _short(value: float) -> str:
    """Whole numbers as they are (``10000``); others to four significant digits (``25.2``)."""
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}"


class LiveScreen(Screen[None]):
    """Live view of one run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "g", "toggle_log", "Log scale", tooltip="Switch the loss axis between log and linear"
        ),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("d", "detail", "Detail"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run: Run, lab: Lab[Any] | None = None) -> None:
        super().__init__()
        self.run = run
        self.lab = lab
        self.log_y = True
        self.follower: RunFollower | None = None
        self.snapshot: RunSnapshot | None = None
        self.curves: LossCurves | None = None
        self.live_curves: dict[str, LossCurves] = {}
        self._in_flight = False
        self._last_plot = 0.0
        self._plot_pending = False
        self._finished_polls = 0

    @property
    def wb(self) -> WorkbenchApp:
        """The workbench app."""
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        """Title, progress, loss plot beside the live measure, error panel."""
        yield Header()
        yield Static(f"run {self.run.id}", id="live-title", markup=False)
        yield ProgressBar(total=None, show_eta=False, id="live-progress")
        yield Static("", id="live-stats", markup=False)
        with Horizontal(id="live-panels"):
            yield PlotView(id="live-loss", placeholder="waiting for the first loss…")
            with Vertical(id="live-measure"):
                yield Static("", id="live-measure-title", markup=False)
                yield Static("", id="live-measure-value", markup=False)
                yield PlotView(id="live-measure-plot", placeholder="no live measure yet")
        yield Static("", id="live-error", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the lab (for step titles and its live measure) and start polling."""
        self.sub_title = self.run.id
        self.query_one("#live-error").display = False
        if self.lab is None:
            self._load_lab()
        else:
            self._start_following()

    @work(thread=True, exit_on_error=False, group="live-lab")
    def _load_lab(self) -> None:
        lab_name = "?"
        with contextlib.suppress(WorkbenchError):
            lab_name = self.run.lab
        try:
            lab = self.wb.cached_lab(lab_name)
        except Exception:  # an unknown or broken lab: follow the run without its extras
            lab = None
        self.post_message(self.LabReady(lab))

    class LabReady(Message):
        """The run's lab was imported (``None`` if it could not be)."""

        def __init__(self, lab: Lab[Any] | None) -> None:
            super().__init__()
            self.lab = lab

    def on_live_screen_lab_ready(self, message: LabReady) -> None:
        """Start following once the lab is known."""
        self.lab = message.lab
        self._start_following()

    def _start_following(self) -> None:
        live = self.lab.live_metrics if self.lab is not None else ()
        self.follower = RunFollower(self.run, live_metrics=live)
        title = live[0] if live else "live measure"
        self.query_one("#live-measure-title", Static).update(title)
        if not live:
            self.query_one("#live-measure").display = False
        self.set_interval(POLL_SECONDS, self._tick)
        self._tick()

    # -- polling ---------------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._in_flight or self.follower is None:
            return
        if self.snapshot is not None and self.snapshot.finished and self._finished_polls >= 2:
            return  # nothing will change any more
        self._in_flight = True
        self._poll()

    @work(thread=True, exit_on_error=False, group="live-poll")
    def _poll(self) -> None:
        assert self.follower is not None
        snapshot = self.follower.poll()
        self.post_message(FollowUpdate(snapshot))

    def on_follow_update(self, message: FollowUpdate) -> None:
        """Show what the poll found."""
        self._in_flight = False
        snap = message.snapshot
        self.snapshot = snap
        if snap.finished:
            self._finished_polls += 1
        error = self.query_one("#live-error", Static)
        if snap.error:
            error.update(f"Cannot read the run folder: {snap.error}")
            error.display = True
            return
        if snap.status == "failed":
            error.update(f"The run failed: {snap.message or 'see its log (d, then Log)'}")
            error.display = True
        else:
            error.display = False
        self._show_progress(snap)
        if snap.curves is not None:
            self.curves = snap.curves
            self._plot_pending = True
        for key, curves in snap.live.items():
            self.live_curves[key] = curves
            self._plot_pending = True
        for key, array in snap.live_arrays.items():
            self._show_live_array(key, array)
        now = time.monotonic()
        if self._plot_pending and (now - self._last_plot >= PLOT_SECONDS or snap.finished):
            self._redraw_plots()
            self._last_plot = now
            self._plot_pending = False

    def _show_progress(self, snap: RunSnapshot) -> None:
        steps = self.lab.steps if self.lab is not None else ()
        keys = [s.key for s in steps]
        if snap.step in keys:
            index = keys.index(snap.step)
            step = f"step {index + 1}/{len(keys)} {steps[index].title}"
        else:
            step = f"step {snap.step}" if snap.step else ""
        status_style = STATUS_STYLE.get(snap.status, "")
        title = self.query_one("#live-title", Static)
        # The run id is in the header; this line wraps rather than cut the step title.
        title.update(Text.assemble((snap.status, status_style), f" · {snap.lab} · {step}"))
        bar = self.query_one("#live-progress", ProgressBar)
        if snap.status == "completed":
            bar.update(total=1, progress=1)
        elif snap.total > 0:
            bar.update(total=snap.total, progress=snap.done)
        n_steps = len(self.lab.steps) if self.lab is not None else None
        self.query_one("#live-stats", Static).update(stats_text(snap, n_steps))

    def _redraw_plots(self) -> None:
        if self.curves is not None:
            self.query_one("#live-loss", PlotView).spec = loss_spec(self.curves, log_y=self.log_y)
        for key, curves in self.live_curves.items():
            self._show_live_curves(key, curves)
            break  # one live measure panel: the lab's first

    def _show_live_curves(self, key: str, curves: LossCurves) -> None:
        """A live measure logged as records: its median over seeds per group, and the latest."""
        rows = []
        labels = []
        latest = []
        for group in curves.group_names():
            spread = seed_spread(curves.group_values(group))
            rows.append(spread.median)
            labels.append(group or key)
            finite = spread.median[np.isfinite(spread.median)]
            if finite.size:
                latest.append(f"{group + ' ' if group else ''}{float(finite[-1]):.3g}")
        self.query_one("#live-measure-value", Static).update("now: " + " · ".join(latest))
        lines = tuple(
            Line(curves.steps, row, label if len(rows) > 1 else "")
            for row, label in zip(rows, labels, strict=True)
        )
        self.query_one("#live-measure-plot", PlotView).spec = PlotSpec(lines=lines, x_label="step")

    def _show_live_array(self, key: str, array: np.ndarray[Any, Any]) -> None:
        """A live measure saved as an array (e.g. seed × seed): shown as a heatmap."""
        panel = self.query_one("#live-measure", Vertical)
        arr = np.asarray(array, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            return
        finite = arr[np.isfinite(arr)]
        mean = f"mean {format_value(float(finite.mean()), 6)}" if finite.size else ""
        self.query_one("#live-measure-value", Static).update(mean)
        existing = list(panel.query(HeatmapView))
        if existing and existing[0].values.shape == arr.shape:
            existing[0].values = arr
            existing[0].refresh()
            return
        for old in existing:
            old.remove()
        self.query_one("#live-measure-plot").display = False
        panel.mount(HeatmapView(arr, title="", x_label="seed", y_label="seed", id="live-heatmap"))

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle_log(self) -> None:
        """Switch the loss axis between log and linear."""
        self.log_y = not self.log_y
        self._redraw_plots()
        self.notify(f"loss axis: {'log' if self.log_y else 'linear'}", timeout=2)

    def action_cancel_run(self) -> None:
        """Cancel the run (after a confirmation); it ends interrupted and stays readable."""
        if self.snapshot is not None and self.snapshot.finished:
            self.notify(f"the run is {self.snapshot.status}; nothing to cancel", severity="warning")
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                cancel_run(self.run)
            except (LaunchError, WorkbenchError) as err:
                self.wb.report(err, "Cannot cancel")
                return
            self.notify("cancelling: the run stops at its next progress report", timeout=4)

        self.app.push_screen(ConfirmScreen(f"Cancel run {self.run.id}?"), answer)

    def action_detail(self) -> None:
        """Open the run's detail."""
        self.wb.open_run(self.run.id)
