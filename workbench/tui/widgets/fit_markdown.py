"""Markdown whose wide tables are stacked when the widget is too narrow for them."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Markdown

from workbench.render.markdown import fit_tables

__all__ = ["FitMarkdown"]

#: Cells of a Markdown widget's width that a table cannot use (the widget's own
#: padding and the table's outer margin).
TABLE_MARGIN = 4


class FitMarkdown(Markdown):
    """A :class:`~textual.widgets.Markdown` that re-lays its tables when its width changes.

    Tables that fit are drawn as tables; wider ones become one bullet per row
    (see :func:`workbench.render.markdown.fit_tables`), so no cell is ellipsised.
    """

    def __init__(self, markdown: str = "", **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.markdown_source = markdown
        self._fitted: tuple[int, str] | None = None

    def on_mount(self) -> None:
        """Lay out for the first width."""
        self._refit()

    def set_source(self, markdown: str) -> None:
        """Show new Markdown."""
        self.markdown_source = markdown
        self._refit()

    def on_resize(self, event: events.Resize) -> None:
        """A new width may change which tables fit."""
        self._refit()

    def _refit(self) -> None:
        width = self.size.width or self.app.size.width
        if width <= 0:
            return
        key = (width, self.markdown_source)
        if key == self._fitted:
            return
        self._fitted = key
        self.update(fit_tables(self.markdown_source, width - TABLE_MARGIN))
