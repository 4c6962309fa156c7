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
from workbench.render.views import array_heatmap, array_plot_spec, default_view, n_slices
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
        Binding("comma", "slice(-1)", "Slice -", key_display=",", tooltip="Previous 2-D slice"),
        Binding("full_stop", "slice(1)", "Slice +", key_display=".", tooltip="Next 2-D slice"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run: Run, items: Sequence[tuple[str, View]], index: int = 0) -> None:
        super().__init__()
        self.run = run
        self.items = list(items)
        self.index = index
        #: Which 2-D slice of a 3-D array is on screen (along its first axis).
        self.slice = 0

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The slice keys only show for arrays that have slices."""
        if action == "slice":
            return n_slices(self.run, self.items[self.index][0]) > 1
        return True

    def _widget(self, name: str, view: View) -> Widget:
        # A 3-D array (e.g. match/r2: seed × neuron × candidate) is read one 2-D slice
        # at a time; as a curve it would be a tangle of meaningless lines.
        if view.kind == "heatmap" or (view.kind == "curve" and n_slices(self.run, name) > 1):
            heatmap = array_heatmap(self.run, name, view, index=self.slice)
            return HeatmapView.from_heatmap(heatmap, classes="array-view", id="array-heatmap")
        return PlotView(
            array_plot_spec(self.run, name, view), classes="array-view", id="array-plot"
        )

    async def action_step(self, delta: int) -> None:
        """Show the previous or next array."""
        if len(self.items) > 1:
            self.index = (self.index + delta) % len(self.items)
            self.slice = 0
            await self._show()
            self.refresh_bindings()

    async def action_slice(self, delta: int) -> None:
        """Move along the first axis of a 3-D array, keeping the selected cell."""
        n = n_slices(self.run, self.items[self.index][0])
        if n <= 1:
            return
        cursor = self.query_one(HeatmapView).cursor if self.query(HeatmapView) else (0, 0)
        self.slice = (self.slice + delta) % n
        await self._show()
        if self.query(HeatmapView):
            self.query_one(HeatmapView).cursor = cursor
