"""A heatmap widget with a cell cursor: arrows move it, the exact value shows below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from textual.app import RenderResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widget import Widget

from workbench.render.heatmap import Heatmap
from workbench.tui.widgets._color import heatmap_ramp, widget_color_mode

__all__ = ["HeatmapView"]


class HeatmapView(Widget, can_focus=True):
    """A matrix drawn as a heatmap, with a selectable cell.

    The selected cell is marked ``◆``, its row and column labels are highlighted,
    and its exact value is printed under the colour scale. Larger matrices than
    the widget scroll with the cursor.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "Cell ↑", show=False),
        Binding("down", "move(1, 0)", "Cell ↓", show=False),
        Binding("left", "move(0, -1)", "Cell ←", show=False),
        Binding("right", "move(0, 1)", "Cell →", show=False),
        Binding("pageup", "move(-10, 0)", "10 rows up", show=False),
        Binding("pagedown", "move(10, 0)", "10 rows down", show=False),
        Binding("home", "jump(0)", "First cell", show=False),
        Binding("end", "jump(1)", "Last cell", show=False),
    ]

    DEFAULT_CSS = """
    HeatmapView {
        height: 1fr;
        min-height: 8;
    }
    HeatmapView:focus {
        background: $boost;
    }
    """

    cursor: reactive[tuple[int, int]] = reactive((0, 0))
    """``(row, col)`` of the selected cell."""

    def __init__(
        self,
        values: Any,
        *,
        row_labels: Sequence[str] | None = None,
        col_labels: Sequence[str] | None = None,
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        vmin: float | None = None,
        vmax: float | None = None,
        ramp: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Initialise the heatmap.

        Args:
            values: The matrix, ``(n_rows, n_cols)``.
            row_labels: One label per row.
            col_labels: One label per column.
            title: Caption above the map.
            x_label: What the columns are.
            y_label: What the rows are.
            vmin: Low end of the colour scale (default: the smallest value).
            vmax: High end of the colour scale (default: the largest value).
            ramp: Colour ramp name; default: the theme's.
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
        """
        super().__init__(name=name, id=id, classes=classes)
        self.values = np.asarray(values, dtype=np.float64)
        if self.values.ndim != 2:
            raise ValueError(f"a heatmap needs a 2-D array; got shape {self.values.shape}")
        self.row_labels = row_labels
        self.col_labels = col_labels
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        self.vmin = vmin
        self.vmax = vmax
        self.ramp = ramp

    @classmethod
    def from_heatmap(cls, heatmap: Heatmap, **kwargs: Any) -> HeatmapView:
        """A widget showing the same data, labels and scale as a :class:`Heatmap`."""
        return cls(
            heatmap.values,
            row_labels=heatmap.row_labels,
            col_labels=heatmap.col_labels,
            title=heatmap.title,
            x_label=heatmap.x_label,
            y_label=heatmap.y_label,
            vmin=heatmap.vmin,
            vmax=heatmap.vmax,
            ramp=heatmap.ramp.name,
            **kwargs,
        )

    def on_mount(self) -> None:
        """Redraw when the theme (and so the default ramp) changes."""
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    @property
    def selected_value(self) -> float:
        """The value of the selected cell."""
        r, c = self.cursor
        return float(self.values[r, c])

    def action_move(self, d_row: int, d_col: int) -> None:
        """Move the cursor, stopping at the edges."""
        n_rows, n_cols = self.values.shape
        r, c = self.cursor
        self.cursor = (min(max(r + d_row, 0), n_rows - 1), min(max(c + d_col, 0), n_cols - 1))

    def action_jump(self, end: int) -> None:
        """Jump to the first (``0``) or last (``1``) cell."""
        n_rows, n_cols = self.values.shape
        self.cursor = (n_rows - 1, n_cols - 1) if end else (0, 0)

    def render(self) -> RenderResult:
        """Draw the heatmap into the content area."""
        _width, height = self.content_size
        return Heatmap(
            self.values,
            row_labels=self.row_labels,
            col_labels=self.col_labels,
            title=self.title,
            x_label=self.x_label,
            y_label=self.y_label,
            vmin=self.vmin,
            vmax=self.vmax,
            ramp=self.ramp or heatmap_ramp(self.app),
            selected=self.cursor,
            mode=widget_color_mode(self.app),
            max_height=height,
        )
