"""One array of a run, full screen: a heatmap with a cell cursor, a spectrum or a curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from workbench.core.errors import WorkbenchError
from workbench.core.lab import View
from workbench.core.runs import Run
from workbench.render.views import array_heatmap, array_plot_spec, default_view
from workbench.tui.widgets.heatmap import HeatmapView
from workbench.tui.widgets.plot import PlotView

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

__all__ = ["ArrayScreen", "default_view"]


class ArrayScreen(Screen[None]):
    """Shows arrays of a run one at a time; ``[`` and ``]`` step through the list.

    Args:
        run: The run.
        items: ``(array name, view)`` pairs to step through.
        index: Which one to show first.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "step(-1)", "Previous", key_display="["),
        Binding("right_square_bracket", "step(1)", "Next", key_display="]"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run: Run, items: Sequence[tuple[str, View]], index: int = 0) -> None:
        super().__init__()
        self.run = run
        self.items = list(items)
        self.index = index

    @property
    def wb(self) -> WorkbenchApp:
        """The workbench app."""
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        """Caption and the drawing."""
        yield Header()
        yield Static(self._caption(), id="array-caption", markup=False)
        yield self._view()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Focus the drawing (arrows move a heatmap's cursor)."""
        self.sub_title = self.run.id
        self.query_one(".array-view").focus()

    def _caption(self) -> str:
        name, _ = self.items[self.index]
        description = self.run.array_meta(name).get("description", "")
        count = f"[{self.index + 1}/{len(self.items)}] " if len(self.items) > 1 else ""
        return f"{count}{name}" + (f" — {description}" if description else "")

    def _view(self) -> Widget:
        name, view = self.items[self.index]
        try:
            return self._widget(name, view)
        except (WorkbenchError, ValueError, OSError) as err:
            return Static(f"cannot show {name}: {err}", classes="array-view error-panel")

    async def _show(self) -> None:
        self.query_one("#array-caption", Static).update(self._caption())
        await self.query(".array-view").remove()
        widget = self._view()
        await self.mount(widget, after="#array-caption")
        widget.focus()

    def _widget(self, name: str, view: View) -> Widget:
        if view.kind == "heatmap":
            heatmap = array_heatmap(self.run, name, view)
            return HeatmapView.from_heatmap(heatmap, classes="array-view", id="array-heatmap")
        return PlotView(
            array_plot_spec(self.run, name, view), classes="array-view", id="array-plot"
        )

    async def action_step(self, delta: int) -> None:
        """Show the previous or next array."""
        if len(self.items) > 1:
            self.index = (self.index + delta) % len(self.items)
            await self._show()
