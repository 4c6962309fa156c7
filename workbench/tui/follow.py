"""Following a run folder while it is written: the source of truth for every live panel.

The TUI never trains. A run, whoever started it (this TUI, the CLI, another
terminal, an earlier TUI session), writes its folder; :class:`RunFollower` reads
what changed since its last poll:

* ``run.toml``: status (liveness-aware: a dead process reads ``interrupted``), steps done;
* ``progress.toml``: the current step, done/total and live numbers
  (converged, diverged, steps_per_second);
* ``metrics.jsonl``: only the bytes appended since the last poll
  (:meth:`workbench.core.runs.Run.metric_records` with an offset);
* ``arrays/<live metric>.npy``: re-read only when its modification time changes.

Polling is cheap and never raises: a folder that cannot be read gives a snapshot
with ``error`` set, which the TUI shows as a panel. This module has no Textual
imports, so it is tested on its own.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Run, effective_status
from workbench.render.series import LossAccumulator, LossCurves

__all__ = ["ProgressRate", "RunFollower", "RunSnapshot"]

#: Seconds of progress history used for the rate and the ETA.
RATE_WINDOW = 10.0


@dataclass(frozen=True)
class RunSnapshot:
    """What a run folder says now.

    Attributes:
        run_id: The run's id.
        lab: The lab's name.
        status: ``running``, ``completed``, ``failed`` or ``interrupted``.
        steps_done: Keys of the finished lab steps.
        step: Key of the step in progress (from ``progress.toml``), or ``""``.
        done: Units done in the current step.
        total: Units in the current step (0 if unknown).
        info: Live numbers from the progress record (converged, diverged, ...).
        rate: Units per second over the last few seconds, if measurable.
        eta_seconds: Seconds left in the current step at that rate, if measurable.
        curves: Loss curves so far (``None`` when unchanged since the previous poll).
        live: Per live metric logged as records: its curves so far (only changed ones).
        live_arrays: Per live metric saved as an array: its latest value (only changed ones).
        n_records: Metric records read so far.
        n_seeds: Networks per ensemble (``[run].seeds.count``), if recorded.
        error: Why the folder could not be read, if it could not.
        message: The run's own error message (``[run].error``) for a failed run.
    """

    run_id: str
    lab: str = "?"
    status: str = "interrupted"
    steps_done: tuple[str, ...] = ()
    step: str = ""
    done: float = 0.0
    total: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    rate: float | None = None
    eta_seconds: float | None = None
    curves: LossCurves | None = None
    live: dict[str, LossCurves] = field(default_factory=dict)
    live_arrays: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    n_records: int = 0
    n_seeds: int | None = None
    error: str | None = None
    message: str = ""

    @property
    def finished(self) -> bool:
        """The run will not change any more."""
        return self.status != "running"

    @property
    def fraction(self) -> float | None:
        """``done / total`` of the current step, or ``None`` when the total is unknown."""
        if self.total > 0:
            return min(1.0, max(0.0, self.done / self.total))
        return None


class ProgressRate:
    """Rate of progress and time left, from ``(time, done)`` samples of the current step.

    ``rate = (done_now - done_then) / (t_now - t_then)`` over the samples of the last
    ``window`` seconds; ``eta = (total - done_now) / rate``. A new step (or progress
    going backwards) restarts the history.
    """

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._step = ""
        self._samples: deque[tuple[float, float]] = deque()

    def update(
        self, now: float, step: str, done: float, total: float
    ) -> tuple[float | None, float | None]:
        """Add a sample; return ``(rate, eta_seconds)`` (``None`` where not measurable)."""
        if step != self._step or (self._samples and done < self._samples[-1][1]):
            self._step = step
            self._samples.clear()
        if not self._samples or self._samples[-1][1] != done:
            self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        if len(self._samples) < 2:
            return None, None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        # Measured up to now, not to the last change: a stalled step shows its rate falling.
        elapsed = max(now, t1) - t0
        if elapsed <= 0 or d1 <= d0:
            return None, None
        rate = (d1 - d0) / elapsed
        eta = (total - d1) / rate if total > 0 else None
        return rate, (max(0.0, eta) if eta is not None and math.isfinite(eta) else None)


class RunFollower:
    """Reads a run folder incrementally.

    Args:
        run: The run to follow.
        live_metrics: The lab's live metric keys (``Lab.live_metrics``), each either a
            field of metric records or the name of an array the run rewrites.
        loss_key: The metric drawn as loss curves.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        run: Run,
        *,
        live_metrics: Sequence[str] = (),
        loss_key: str = "loss",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run = run
        self.live_metrics = tuple(live_metrics)
        self._clock = clock
        self._offset = 0
        self._loss = LossAccumulator(loss_key)
        self._live = {key: LossAccumulator(key) for key in self.live_metrics}
        self._array_mtimes: dict[str, int] = {}
        self._rate = ProgressRate()

    def poll(self) -> RunSnapshot:
        """Read what changed since the last poll. Never raises."""
        try:
            return self._poll()
        except (WorkbenchError, OSError, ValueError) as err:
            return RunSnapshot(run_id=self.run.id, error=str(err))

    def _poll(self) -> RunSnapshot:
        info = self.run.info  # raises RunFolderError for a folder without a readable run.toml
        status = effective_status(info, self.run.path)
        progress = self.run.progress()
        step = str(progress.get("step", ""))
        done = _number(progress.get("done"))
        total = _number(progress.get("total"))
        live_info = progress.get("info", {})
        rate, eta = self._rate.update(self._clock(), step, done, total)
        if status != "running":
            eta = None
        records, self._offset = self.run.metric_records(self._offset)
        curves = None
        live: dict[str, LossCurves] = {}
        if records:
            before = self._loss.n_records
            self._loss.add(records)
            if self._loss.n_records != before:
                curves = self._loss.curves()
            for key, acc in self._live.items():
                before = acc.n_records
                acc.add(records)
                if acc.n_records != before:
                    live[key] = acc.curves()
        return RunSnapshot(
            run_id=self.run.id,
            lab=str(info.get("lab", "?")),
            status=status,
            steps_done=tuple(str(s) for s in info.get("steps_done", [])),
            step=step,
            done=done,
            total=total,
            info=dict(live_info) if isinstance(live_info, dict) else {},
            rate=rate,
            eta_seconds=eta,
            curves=curves,
            live=live,
            live_arrays=self._changed_arrays(),
            n_records=self._loss.n_records,
            n_seeds=_seed_count(info.get("seeds")),
            message=str(info.get("error", "")),
        )

    def _changed_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """Live metrics saved as arrays, re-read only when their file changed."""
        out: dict[str, np.ndarray[Any, Any]] = {}
        for key in self.live_metrics:
            path = self.run.path / "arrays" / f"{key}.npy"
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue
            if self._array_mtimes.get(key) == mtime:
                continue
            try:
                out[key] = self.run.array(key)
            except (WorkbenchError, ValueError, OSError):
                continue  # being replaced right now: read it next time
            self._array_mtimes[key] = mtime
        return out


def _seed_count(seeds: Any) -> int | None:
    count = seeds.get("count") if isinstance(seeds, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0
