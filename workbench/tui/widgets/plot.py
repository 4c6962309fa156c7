"""A plot widget: a :class:`~workbench.render.plots.PlotSpec` drawn at the widget's size."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from workbench.render.plots import PlotSpec, render_plot
from workbench.tui.widgets._color import plot_palette, widget_color_mode

__all__ = ["PlotView"]


class PlotView(Widget):
    """Draws a line plot (loss curves, spectra) with plotext 6, sized to the widget.

    The drawing is cached per spec and size, so a panel that refreshes at a few
    hertz only pays for plotext when its data or size actually changed.
    """

    DEFAULT_CSS = """
    PlotView {
        height: 1fr;
        min-height: 8;
    }
    """

    spec: reactive[PlotSpec | None] = reactive(None)
    """What to draw; ``None`` shows the placeholder."""

    def __init__(
        self,
        spec: PlotSpec | None = None,
        *,
        placeholder: str = "no data yet",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Initialise the plot.

        Args:
            spec: What to draw (can be set later through :attr:`spec`).
            placeholder: Text shown while there is nothing to draw.
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
        """
        super().__init__(name=name, id=id, classes=classes)
        self.placeholder = placeholder
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: Text | None = None
        self.set_reactive(PlotView.spec, spec)

    def on_mount(self) -> None:
        """Redraw when the theme (and so the palette) changes."""
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._cache_key = None
        self.refresh()

    def render(self) -> RenderResult:
        """Draw the spec into the content area."""
        spec = self.spec
        if spec is None:
            return Text(self.placeholder, style="dim")
        width, height = self.content_size
        mode = widget_color_mode(self.app)
        key = (id(spec), width, height, mode, self.app.theme)
        if key != self._cache_key or self._cache is None:
            self._cache = render_plot(
                spec, width, height, mode=mode, palette=plot_palette(self.app)
            )
            self._cache_key = key
        return self._cache
