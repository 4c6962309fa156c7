"""Renderers shared by the TUI and ``workbench show``: heatmaps and plots as Rich text.

Not part of :mod:`workbench.core` (which never imports Rich or plotext). Each
renderer is a pure function of its data and the space it gets, so the TUI's
widgets and the CLI's console print the same picture.

* :class:`Heatmap`: labelled axes, a colour scale with values, the selected
  cell's exact value; characters and numbers under ``NO_COLOR``.
* :func:`render_plot` with :func:`loss_spec`, :func:`spectrum_spec`,
  :func:`curve_spec`: line plots through plotext 6, log axes, spreads across seeds.
* :func:`renderable_for_view`: a run's array drawn as its lab's view asks.
"""

from __future__ import annotations

from workbench.render.colors import RAMPS, ColorMode, Ramp, detect_color_mode, get_ramp
from workbench.render.heatmap import Heatmap
from workbench.render.plots import (
    Band,
    Line,
    PlotPalette,
    PlotSpec,
    curve_spec,
    loss_spec,
    render_plot,
    spectrum_spec,
)
from workbench.render.series import LossAccumulator, LossCurves, seed_spread
from workbench.render.views import PlotRenderable, renderable_for_view

__all__ = [
    "RAMPS",
    "Band",
    "ColorMode",
    "Heatmap",
    "Line",
    "LossAccumulator",
    "LossCurves",
    "PlotPalette",
    "PlotRenderable",
    "PlotSpec",
    "Ramp",
    "curve_spec",
    "detect_color_mode",
    "get_ramp",
    "loss_spec",
    "render_plot",
    "renderable_for_view",
    "seed_spread",
    "spectrum_spec",
]
