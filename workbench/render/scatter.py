"""Scatter plots (one point per net, coloured by group) and spectra with a spread band.

Both are :class:`~workbench.render.plots.PlotSpec` builders, drawn by
:func:`~workbench.render.plots.render_plot` through plotext like every other plot, so they
print in ``workbench show`` and in the TUI alike and fit 80×24.

A scatter array is ``(point, 3)``: columns x, y and the point's group index; its metadata
labels ``coord`` name x and y and ``task`` (or ``group``) name the groups. A band spectrum is
``(3, rank)`` with ``quantile`` labels, e.g. the 10%, 50% and 90% quantile of the k-th
eigenvalue across nets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.render.plots import Band, Line, PlotSpec

__all__ = ["scatter_spec", "scatter_spec_from_array", "spectrum_band_spec"]


def scatter_spec(
    x: Any,
    y: Any,
    groups: Any,
    *,
    group_names: Sequence[str] = (),
    title: str = "",
    x_label: str = "",
    y_label: str = "",
) -> PlotSpec:
    """Points ``(x_i, y_i)``, one series (colour, legend entry) per group.

    Args:
        x: ``(n,)`` x values.
        y: ``(n,)`` y values.
        groups: ``(n,)`` integer group of each point.
        group_names: Legend text of group 0, 1, ...; missing names show the index.
        title: Title line.
        x_label: x axis label.
        y_label: y axis label (shown in the title line).
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    ga = np.asarray(groups).astype(np.int64).ravel()
    if not xa.size == ya.size == ga.size:
        raise ValueError(
            f"x, y and groups need one value per point; got {xa.size}, {ya.size}, {ga.size}"
        )
    ok = np.isfinite(xa) & np.isfinite(ya)
    lines = []
    for g in np.unique(ga):
        keep = ok & (ga == g)
        if keep.any():
            name = group_names[g] if 0 <= g < len(group_names) else str(g)
            lines.append(Line(xa[keep], ya[keep], label=f"{name} ({int(keep.sum())})", points=True))
    hidden = int((~ok).sum())
    return PlotSpec(
        lines=tuple(lines),
        title=title,
        x_label=x_label,
        y_label=y_label,
        note=f"{hidden} non-finite point{'s' if hidden != 1 else ''} hidden" if hidden else "",
        empty_message="no finite points",
    )


def scatter_spec_from_array(
    points: Any, labels: Any, *, title: str = "", x_label: str = "", y_label: str = ""
) -> PlotSpec:
    """A scatter from a saved ``(point, 3)`` array and its metadata ``labels``."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"a scatter needs a (point, 2 or 3) array; got shape {arr.shape}")
    lab: dict[str, Any] = labels if isinstance(labels, dict) else {}
    coord = [str(c) for c in lab.get("coord") or []]
    names = [str(n) for n in lab.get("task") or lab.get("group") or []]
    groups = arr[:, 2] if arr.shape[1] > 2 else np.zeros(arr.shape[0])
    return scatter_spec(
        arr[:, 0],
        arr[:, 1],
        groups,
        group_names=names,
        title=title,
        x_label=coord[0] if coord else x_label,
        y_label=coord[1] if len(coord) > 1 else y_label,
    )


def spectrum_band_spec(band: Any, *, title: str = "", quantiles: Sequence[str] = ()) -> PlotSpec:
    """Log-log spectrum: the middle row as a line, the first and last rows as a shaded band.

    Args:
        band: ``(3, rank)`` low, middle and high quantile of the k-th eigenvalue.
        title: Title line.
        quantiles: Names of the three rows (e.g. ``q10, median, q90``).
    """
    arr = np.asarray(band, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != 3:
        raise ValueError(f"a band spectrum needs a (3, rank) array; got shape {arr.shape}")
    ranks = np.arange(1, arr.shape[1] + 1, dtype=np.float64)
    names = list(quantiles) if len(quantiles) == 3 else ["low", "median", "high"]
    return PlotSpec(
        lines=(Line(ranks, arr[1], label=names[1]),),
        bands=(Band(ranks, arr[0], arr[2], label=f"{names[0]}–{names[2]}"),),
        title=title,
        x_label="rank k",
        y_label="λ_k",
        log_x=True,
        log_y=True,
        empty_message="no positive eigenvalues",
    )
