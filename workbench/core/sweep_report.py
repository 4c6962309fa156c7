"""Reading a sweep back as one table: a row per cell, aggregates over repeats, and CSV.

Aggregates: for a result key and the cells of one grid point (its repeats), the mean and a
t-interval ``mean ± t_{0.975, k−1} · s / √k`` over the k finite values (the repeats are
independent runs with disjoint seeds, so they are the replicates); with k = 1 the interval is
NaN, since one run says nothing about run-to-run spread.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.core.runs import Project
from workbench.core.sweep import Sweep, runs_of

__all__ = ["Aggregate", "aggregate", "grid_matrix", "sweep_csv", "sweep_rows"]


def _cell_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_cell_text(v) for v in value) + "]"
    return str(value)


def sweep_rows(
    project: Project, sweep: Sweep, keys: Sequence[str] = ()
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: swept keys, repeat, state, run id, the headline, then ``keys``."""
    axes = list(sweep.grid)
    header = [*axes, "repeat", "state", "run", "headline", *keys]
    rows: list[list[Any]] = []
    for cell, run in runs_of(project, sweep):
        results: dict[str, Any] = {}
        headline = ""
        if run is not None:
            try:
                results = run.results
                key = str(run.info.get("headline", ""))
                headline = str(results.get(key, "")) if key else ""
            except Exception:  # a folder mid-write or damaged: show the cell, not a traceback
                results = {}
        rows.append(
            [
                *(cell.values[a] for a in axes),
                cell.repeat,
                cell.state,
                cell.run,
                headline,
                *(results.get(k, math.nan) for k in keys),
            ]
        )
    return header, rows


@dataclass(frozen=True)
class Aggregate:
    """One grid point's summary of a result key over its repeats."""

    values: dict[str, Any]
    n: int
    mean: float
    low: float
    high: float


def aggregate(project: Project, sweep: Sweep, key: str) -> list[Aggregate]:
    """Mean and 95% t-interval of ``key`` over the completed repeats of each grid point."""
    from scipy.stats import t as student_t

    groups: dict[str, tuple[dict[str, Any], list[float]]] = {}
    for cell, run in runs_of(project, sweep):
        ident = repr(sorted(cell.values.items()))
        entry = groups.setdefault(ident, (cell.values, []))
        if run is None or cell.state != "completed":
            continue
        value = run.results.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            entry[1].append(float(value))
    out = []
    for values, xs in groups.values():
        k = len(xs)
        mean = float(np.mean(xs)) if k else math.nan
        if k > 1:
            half = float(student_t.ppf(0.975, k - 1)) * float(np.std(xs, ddof=1)) / math.sqrt(k)
            low, high = mean - half, mean + half
        else:
            low = high = math.nan
        out.append(Aggregate(values, k, mean, low, high))
    return out


def sweep_csv(project: Project, sweep: Sweep, keys: Sequence[str] = ()) -> str:
    """The table of :func:`sweep_rows` as CSV text (lists written as TOML-like text)."""
    header, rows = sweep_rows(project, sweep, keys)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell_text(v) if isinstance(v, list) else v for v in row])
    return buffer.getvalue()


def grid_matrix(
    aggregates: Sequence[Aggregate], x: str, y: str
) -> tuple[list[Any], list[Any], np.ndarray[Any, Any]]:
    """Means over two swept axes as a (len(y), len(x)) matrix (NaN where a point is missing)."""
    xs: list[Any] = []
    ys: list[Any] = []
    for agg in aggregates:
        if agg.values[x] not in xs:
            xs.append(agg.values[x])
        if agg.values[y] not in ys:
            ys.append(agg.values[y])
    # Grid points that differ only in other swept axes are averaged into one cell.
    total = np.zeros((len(ys), len(xs)))
    count = np.zeros((len(ys), len(xs)))
    for agg in aggregates:
        if math.isfinite(agg.mean):
            i, j = ys.index(agg.values[y]), xs.index(agg.values[x])
            total[i, j] += agg.mean
            count[i, j] += 1
    with np.errstate(invalid="ignore"):
        m = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return xs, ys, m
