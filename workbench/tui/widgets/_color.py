"""The colour mode and theme colours a widget should render with."""

from __future__ import annotations

from textual.app import App

from workbench.render.colors import ColorMode, detect_color_mode
from workbench.render.plots import PlotPalette

__all__ = ["heatmap_ramp", "plot_palette", "widget_color_mode"]


def widget_color_mode(app: App[object]) -> ColorMode:
    """``none`` under ``NO_COLOR`` (Textual's own check), else what the app's console supports.

    Textual removes ``NO_COLOR`` from its console's environment and renders in
    monochrome itself, so the app's ``no_color`` flag is the one to trust.
    """
    if app.no_color:
        return "none"
    return detect_color_mode(app.console, environ={})


def plot_palette(app: App[object]) -> PlotPalette:
    """The current theme's plot colours (the default palette outside the workbench app)."""
    palette = getattr(app, "plot_palette", None)
    return palette if isinstance(palette, PlotPalette) else PlotPalette()


def heatmap_ramp(app: App[object]) -> str:
    """The current theme's heatmap ramp name."""
    ramp = getattr(app, "heatmap_ramp", None)
    return ramp if isinstance(ramp, str) else "viridis"
