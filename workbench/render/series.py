"""Curves to plot: loss curves of many seeds, their median and spread, thinning, log filters.

Pure NumPy, no drawing: every quantity here is tested against NumPy directly
(``tests/tui/test_series.py``). The drawing is in :mod:`workbench.render.plots`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "LossAccumulator",
    "LossCurves",
    "SeedSpread",
    "log_positive",
    "seed_spread",
    "thin_indices",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class LossCurves:
    """Loss of every series (one per seed, per task) on a shared step axis.

    Attributes:
        steps: ``(n_steps,)`` training steps, increasing.
        values: ``(n_series, n_steps)`` losses; NaN where a series logged nothing at a step.
        groups: ``(n_series,)`` group of each series (the task; ``""`` if the lab has none).
        seeds: ``(n_series,)`` seed of each series.
    """

    steps: FloatArray
    values: FloatArray
    groups: tuple[str, ...]
    seeds: tuple[int, ...]

    @property
    def n_series(self) -> int:
        """Number of curves."""
        return int(self.values.shape[0])

    def group_names(self) -> list[str]:
        """Distinct groups in order of first appearance."""
        return list(dict.fromkeys(self.groups))

    def group_values(self, group: str) -> FloatArray:
        """``(n_series_in_group, n_steps)`` losses of one group."""
        rows = [i for i, g in enumerate(self.groups) if g == group]
        return self.values[rows]

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, np.ndarray[Any, Any]], key: str = "loss"
    ) -> LossCurves:
        """Build from metric columns (:meth:`workbench.core.runs.Run.metrics`).

        Records without ``key`` (other metrics in the same file) and non-finite
        values (a diverged seed, logged as null) are skipped. When a series logs the
        same step twice, one of its values is kept.

        Args:
            columns: ``{"step": (n,), "seed": (n,), "loss": (n,), "task": (n,) ...}``.
            key: The metric to plot.
        """
        if key not in columns or "step" not in columns or len(columns[key]) == 0:
            return cls.empty()
        value = np.asarray(columns[key], dtype=np.float64)
        step = np.asarray(columns["step"], dtype=np.float64)
        n = len(value)
        seed = np.asarray(columns["seed"]) if "seed" in columns else np.zeros(n, dtype=np.int64)
        task = np.asarray(columns["task"]).astype(str) if "task" in columns else np.full(n, "")
        keep = ~np.isnan(step)
        if np.issubdtype(seed.dtype, np.floating):
            keep &= ~np.isnan(seed)
        # A record without the metric (another metric in the same file) reads as NaN, and
        # so does a diverged loss (JSON has no inf/nan): neither can be drawn.
        keep &= ~np.isnan(value)
        step, value, seed, task = step[keep], value[keep], seed[keep], task[keep]
        keys = list(dict.fromkeys(zip(task.tolist(), seed.astype(np.int64).tolist(), strict=True)))
        row_of = {k: i for i, k in enumerate(keys)}
        steps, col_idx = np.unique(step, return_inverse=True)
        values = np.full((len(keys), len(steps)), np.nan)
        rows = np.fromiter(
            (row_of[(t, int(s))] for t, s in zip(task.tolist(), seed.tolist(), strict=True)),
            dtype=np.int64,
            count=len(step),
        )
        values[rows, col_idx] = value
        return cls(
            steps=steps.astype(np.float64),
            values=values,
            groups=tuple(k[0] for k in keys),
            seeds=tuple(k[1] for k in keys),
        )

    @classmethod
    def empty(cls) -> LossCurves:
        """No curves yet."""
        return cls(np.zeros(0), np.zeros((0, 0)), (), ())


class LossAccumulator:
    """Builds :class:`LossCurves` incrementally from metric records, in bounded memory.

    The live panel feeds it the records appended since its last poll. Each new
    record costs O(1) (amortised); memory is at most ``max_steps`` columns per
    series: when a run logs more distinct steps than that, the stride doubles and
    only the steps whose arrival index is a multiple of it are kept, old and new
    alike. The curve keeps its shape at half the resolution, which is still more
    points than a terminal can draw.

    Args:
        key: The metric to collect (``"loss"``).
        max_steps: Most step columns kept.
    """

    def __init__(self, key: str = "loss", *, max_steps: int = 4096) -> None:
        if max_steps < 2:
            raise ValueError(f"max_steps must be at least 2; got {max_steps}")
        self.key = key
        self.max_steps = max_steps
        self._rows: dict[tuple[str, int], int] = {}
        self._cols: dict[float, int] = {}
        self._steps: list[float] = []
        self._values = np.full((4, 64), np.nan)
        self._stride = 1
        self._n_distinct = 0
        self._arrivals: list[int] = []
        # Steps thinned out recently, so the other seeds' records of the same step are
        # dropped too (records of one step arrive together; a short memory suffices).
        self._skipped: dict[float, None] = {}
        self.n_records = 0

    def add(self, records: Any) -> None:
        """Add metric records (dicts with ``step``, ``seed``, optional ``task`` and the key)."""
        for rec in records:
            value = rec.get(self.key)
            step = rec.get("step")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if not isinstance(step, (int, float)) or not math.isfinite(value):
                continue
            col = self._col(float(step))
            if col < 0:
                continue
            seed = rec.get("seed", 0)
            row = self._row(str(rec.get("task", "")), int(seed) if isinstance(seed, int) else 0)
            self._values[row, col] = float(value)
            self.n_records += 1

    def _row(self, group: str, seed: int) -> int:
        key = (group, seed)
        row = self._rows.get(key)
        if row is None:
            row = len(self._rows)
            self._rows[key] = row
            if row >= self._values.shape[0]:
                grown = np.full((2 * self._values.shape[0], self._values.shape[1]), np.nan)
                grown[: self._values.shape[0]] = self._values
                self._values = grown
        return row

    def _col(self, step: float) -> int:
        col = self._cols.get(step)
        if col is not None:
            return col
        if step in self._skipped:
            return -1
        arrival = self._n_distinct
        self._n_distinct += 1
        if arrival % self._stride:
            # Thinned out: only every stride-th distinct step (in order of arrival) is kept.
            self._skipped[step] = None
            if len(self._skipped) > 4096:
                del self._skipped[next(iter(self._skipped))]
            return -1
        if len(self._steps) >= self.max_steps:
            self._halve()
            if arrival % self._stride:
                self._skipped[step] = None
                return -1
        col = len(self._steps)
        self._cols[step] = col
        self._steps.append(step)
        self._arrivals.append(arrival)
        if col >= self._values.shape[1]:
            grown = np.full((self._values.shape[0], 2 * self._values.shape[1]), np.nan)
            grown[:, : self._values.shape[1]] = self._values
            self._values = grown
        return col

    def _halve(self) -> None:
        """Double the stride: keep the columns whose arrival index is a multiple of it."""
        self._stride *= 2
        kept = [i for i, a in enumerate(self._arrivals) if a % self._stride == 0]
        values = np.full_like(self._values, np.nan)
        values[:, : len(kept)] = self._values[:, kept]
        self._values = values
        self._steps = [self._steps[i] for i in kept]
        self._arrivals = [self._arrivals[i] for i in kept]
        self._cols = {s: i for i, s in enumerate(self._steps)}

    def curves(self) -> LossCurves:
        """The curves collected so far, steps sorted."""
        n_rows, n_cols = len(self._rows), len(self._steps)
        if n_rows == 0 or n_cols == 0:
            return LossCurves.empty()
        steps = np.asarray(self._steps, dtype=np.float64)
        order = np.argsort(steps, kind="stable")
        keys = list(self._rows)
        return LossCurves(
            steps=steps[order],
            values=self._values[:n_rows, :n_cols][:, order].copy(),
            groups=tuple(k[0] for k in keys),
            seeds=tuple(k[1] for k in keys),
        )


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class SeedSpread:
    """Median and a quantile band across seeds, per step.

    Attributes:
        median: ``(n_steps,)`` median over the seeds that have a value at each step.
        lo: ``(n_steps,)`` lower quantile.
        hi: ``(n_steps,)`` upper quantile.
        count: ``(n_steps,)`` number of seeds with a finite value at each step.
        q: The ``(lower, upper)`` quantile levels, e.g. ``(0.1, 0.9)``.
    """

    median: FloatArray
    lo: FloatArray
    hi: FloatArray
    count: np.ndarray[Any, np.dtype[np.int64]]
    q: tuple[float, float]


def seed_spread(values: Any, q: tuple[float, float] = (0.1, 0.9)) -> SeedSpread:
    """Median and ``q`` quantiles across seeds (axis 0), ignoring NaN.

    Quantiles use NumPy's default linear interpolation between order statistics
    (Hyndman and Fan type 7). A step where no seed has a finite value gives NaN.
    Diverged seeds (``inf``) are excluded, so a few blow-ups do not stretch the band
    to infinity; they are counted separately by the live panel.

    Args:
        values: ``(n_seeds, n_steps)`` losses.
        q: Lower and upper quantile levels in ``[0, 1]``, lower first.

    Raises:
        ValueError: if ``values`` is not 2-D or ``q`` is not ordered within ``[0, 1]``.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"values must be (n_seeds, n_steps); got shape {arr.shape}")
    lo_q, hi_q = q
    if not 0.0 <= lo_q <= hi_q <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= lower <= upper <= 1; got {q}")
    arr = np.where(np.isfinite(arr), arr, np.nan)
    count = np.sum(np.isfinite(arr), axis=0).astype(np.int64)
    n_steps = arr.shape[1]
    median = np.full(n_steps, np.nan)
    lo = np.full(n_steps, np.nan)
    hi = np.full(n_steps, np.nan)
    ok = count > 0
    if ok.any():
        sub = arr[:, ok]
        median[ok] = np.nanmedian(sub, axis=0)
        lo[ok] = np.nanquantile(sub, lo_q, axis=0)
        hi[ok] = np.nanquantile(sub, hi_q, axis=0)
    return SeedSpread(median, lo, hi, count, (lo_q, hi_q))


def thin_indices(
    n: int, max_points: int, *, log: bool = False
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Indices of at most ``max_points`` of ``n`` points, first and last always kept.

    A terminal plot has about two braille dots per column, so plotting more points
    than that only costs time. On a log axis the points are spaced evenly in
    ``log(index + 1)``, which keeps the head of a spectrum as detailed as its tail.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n <= max_points or max_points < 2:
        return np.arange(n, dtype=np.int64)
    raw = np.geomspace(1, n, max_points) - 1 if log else np.linspace(0, n - 1, max_points)
    idx = np.unique(np.round(raw).astype(np.int64))
    idx[0], idx[-1] = 0, n - 1
    return np.unique(idx)


def log_positive(x: Any, y: Any, *, log_x: bool, log_y: bool) -> tuple[FloatArray, FloatArray, int]:
    """Drop points a log axis cannot show: non-finite, or ``<= 0`` on a log axis.

    Returns:
        The kept ``x`` and ``y`` and how many points were dropped.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(xa) & np.isfinite(ya)
    if log_x:
        keep &= xa > 0
    if log_y:
        keep &= ya > 0
    return xa[keep], ya[keep], int(np.sum(~keep & np.isfinite(ya) & np.isfinite(xa)))
