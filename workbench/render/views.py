"""From a run's arrays and a lab's :class:`~workbench.core.lab.View` to something to draw.

Shared by ``workbench show`` (Rich) and the TUI (Textual), so both draw the same
heatmap or spectrum for the same array.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from workbench.core.lab import View
from workbench.core.runs import Run
from workbench.render.colors import ColorMode, detect_color_mode
from workbench.render.heatmap import Heatmap
from workbench.render.plots import PlotPalette, PlotSpec, curve_spec, render_plot, spectrum_spec
from workbench.render.scatter import scatter_spec_from_array, spectrum_band_spec

if TYPE_CHECKING:  # the measures import torch and scipy: seconds the first screen must not wait
    from workbench.core.measures.spectra import PowerLawFit

__all__ = [
    "PlotRenderable",
    "array_heatmap",
    "array_plot_spec",
    "default_view",
    "fit_spectrum_exponent",
    "matching_arrays",
    "renderable_for_view",
    "view_for",
]

#: Plot height on a Rich console (``workbench show``).
CONSOLE_PLOT_HEIGHT = 18


class PlotRenderable:
    """A :class:`PlotSpec` as a Rich renderable: as wide as the console, ``height`` lines."""

    def __init__(
        self,
        spec: PlotSpec,
        *,
        height: int = CONSOLE_PLOT_HEIGHT,
        palette: PlotPalette | None = None,
        mode: ColorMode | None = None,
    ) -> None:
        self.spec = spec
        self.height = height
        self.palette = palette
        self.mode = mode

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        mode = self.mode or detect_color_mode(console)
        width = min(options.max_width, 100)
        yield render_plot(self.spec, width, self.height, mode=mode, palette=self.palette)


def default_view(run: Run, name: str) -> View:
    """A view for an array no lab step describes: a heatmap for 2-D and 3-D, a curve otherwise.

    A 3-D array is shown one 2-D slice at a time (the TUI moves along its first axis).
    """
    meta = run.array_meta(name)
    shape = meta.get("shape")
    ndim = len(shape) if isinstance(shape, list) else run.array(name).ndim
    return View("heatmap" if ndim in (2, 3) else "curve", name, name)


def view_for(run: Run, name: str, views: list[View]) -> View:
    """The first of a lab's ``views`` whose source matches ``name``, else the default view."""
    return next((v for v in views if fnmatch.fnmatch(name, v.source)), None) or default_view(
        run, name
    )


def matching_arrays(run: Run, view: View) -> list[str]:
    """Array names of ``run`` that a view's ``source`` (a name or glob) selects."""
    return fnmatch.filter(run.array_names(), view.source)


def array_heatmap(
    run: Run,
    name: str,
    view: View | None = None,
    *,
    selected: tuple[int, int] | None = None,
    ramp: str = "viridis",
    mode: ColorMode | None = None,
    index: int = 0,
) -> Heatmap:
    """A heatmap of a 2-D array, with tick labels and axis names from its metadata.

    A 3-D or higher array shows one 2-D slice: ``index`` along its first axis
    (wrapping around), the first along any others; the title says which. A 1-D
    array is shown as one row.
    """
    arr = np.asarray(run.array(name), dtype=np.float64)
    meta = run.array_meta(name)
    title = view.title if view is not None and view.title else name
    if arr.ndim > 2:
        k = index % arr.shape[0]
        first = (list(meta.get("axes", [])) or ["axis 0"])[0]
        tick = _labels_for(labels_of(meta).get(first), arr.shape[0])
        which = tick[k] if tick else str(k)
        shape = "×".join(str(n) for n in arr.shape)
        title = f"{title} [{first} {which}: slice {k + 1}/{arr.shape[0]} of {shape}]"
        arr = arr[(k,) + (0,) * (arr.ndim - 3)]
    elif arr.ndim < 2:
        arr = arr.reshape(1, -1)
    axes = list(meta.get("axes", []))[-2:]
    labels = meta.get("labels", {}) if isinstance(meta.get("labels"), dict) else {}
    row_axis = axes[0] if len(axes) == 2 else ""
    col_axis = axes[1] if len(axes) == 2 else ""
    rows = _labels_for(labels.get(row_axis), arr.shape[0])
    cols = _labels_for(labels.get(col_axis), arr.shape[1])
    # A signed matrix (e.g. a correlation) reads best on a diverging ramp centred on 0.
    finite = arr[np.isfinite(arr)]
    vmin = vmax = None
    if finite.size and finite.min() < 0 < finite.max():
        ramp = "coolwarm"
        bound = float(np.abs(finite).max())
        vmin, vmax = -bound, bound
    return Heatmap(
        arr,
        row_labels=rows,
        col_labels=cols,
        title=title,
        x_label=(view.x_label if view is not None and view.x_label else col_axis),
        y_label=(view.y_label if view is not None and view.y_label else row_axis),
        vmin=vmin,
        vmax=vmax,
        ramp=ramp,
        selected=selected,
        mode=mode,
    )


def fit_spectrum_exponent(eigenvalues: Any) -> PowerLawFit | None:
    """The power-law fit of a spectrum (:func:`workbench.measures.power_law_exponent`).

    Returns:
        The fit, or ``None`` when the spectrum has too few positive eigenvalues to fit.
    """
    from workbench.measures import power_law_exponent  # lazily: pulls in torch and scipy

    try:
        return power_law_exponent(np.asarray(eigenvalues, dtype=np.float64).ravel())
    except ValueError:
        return None


def array_plot_spec(run: Run, name: str, view: View) -> PlotSpec:
    """A spectrum (log-log with the fitted power law) or a curve of an array."""
    arr = np.asarray(run.array(name), dtype=np.float64)
    title = view.title or name
    meta = run.array_meta(name)
    axes = list(meta.get("axes", []))
    labels = meta.get("labels", {}) if isinstance(meta.get("labels"), dict) else {}
    if view.kind == "scatter":
        return scatter_spec_from_array(
            arr, labels, title=title, x_label=view.x_label, y_label=view.y_label
        )
    if view.kind == "spectrum":
        if arr.ndim == 2 and arr.shape[0] == 3 and axes[:1] == ["quantile"]:
            return spectrum_band_spec(arr, title=title, quantiles=labels.get("quantile", ()))
        lam = arr.ravel() if arr.ndim != 2 else arr[0]
        return spectrum_spec(lam, fit=fit_spectrum_exponent(lam), title=title)
    row_labels = labels.get(axes[0]) if arr.ndim == 2 and axes else None
    x_ticks = labels.get(axes[-1]) if axes else None
    x = _numeric_labels(x_ticks, arr.shape[-1])
    spec = curve_spec(
        arr if arr.ndim <= 2 else arr.reshape(-1, arr.shape[-1]),
        title=title,
        x_label=view.x_label or (axes[-1] if axes else ""),
        y_label=view.y_label,
        labels=row_labels,
        x=x,
    )
    if x is None and isinstance(x_ticks, list) and len(x_ticks) == arr.shape[-1]:
        # Named positions (hooks, layers): the ticks say which, not 0..n-1.
        spec = dataclasses.replace(spec, x_names=tuple(str(t) for t in x_ticks))
    return spec


def _numeric_labels(labels: Any, n: int) -> list[float] | None:
    """The last axis's tick labels as x values when all n are numbers (training steps, say)."""
    if not isinstance(labels, list) or len(labels) != n:
        return None
    try:
        return [float(v) for v in labels]
    except (TypeError, ValueError):
        return None


def renderable_for_view(run: Run, view: View, name: str) -> Any:
    """A Rich renderable of one array of ``run`` as ``view`` asks (for ``workbench show``)."""
    if view.kind == "heatmap":
        return array_heatmap(run, name, view)
    if view.kind in ("spectrum", "curve", "scatter"):
        return PlotRenderable(array_plot_spec(run, name, view))
    return Text(f"{view.kind} views are not drawn here: {name}")


def labels_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``labels`` table of an array's metadata (``{}`` when it has none)."""
    labels = meta.get("labels", {})
    return labels if isinstance(labels, dict) else {}


def n_slices(run: Run, name: str) -> int:
    """How many 2-D slices :func:`array_heatmap` can show of an array (1 unless 3-D+)."""
    shape = run.array_meta(name).get("shape")
    if not isinstance(shape, list):
        shape = list(run.array(name).shape)
    return int(shape[0]) if len(shape) > 2 else 1


def _labels_for(labels: Any, n: int) -> list[str] | None:
    if isinstance(labels, list) and len(labels) == n:
        return [str(s) for s in labels]
    return None
