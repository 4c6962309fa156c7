"""The runs table of the project home: id, lab, status, networks, created, headline.

The columns take their content's width and the headline gets all the width that
is left (``created`` is left out on narrow screens: the run id starts with the
same time), so the headline is readable at 80 columns; the line under the table
shows it whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Project, Run, effective_status

__all__ = ["STATUS_STYLE", "RunRow", "RunsTable", "headline_text", "read_run_rows"]

STATUS_STYLE = {
    "completed": "green",
    "running": "bold cyan",
    "failed": "bold red",
    "interrupted": "yellow",
    "unreadable": "red",
}


#: The status as one character on narrow screens (the line under the table says it in words).
STATUS_GLYPH = {
    "completed": "✓",
    "running": "◐",
    "failed": "✗",
    "interrupted": "◌",
    "unreadable": "?",
}


@dataclass(frozen=True)
class RunRow:
    """One row of the runs table, read from a run folder."""

    id: str
    lab: str
    status: str
    seeds: str
    created: str
    headline: str
    tags: tuple[str, ...] = ()
    note: str = ""


def read_run_rows(project: Project, headlines: dict[str, str | None] | None = None) -> list[RunRow]:
    """Read every run of the project, newest first; unreadable folders become rows too.

    Args:
        project: The project.
        headlines: Per lab name, the lab's headline result key (``Lab.headline``); a lab
            not listed shows its first result.
    """
    rows = []
    for run in reversed(project.runs()):
        rows.append(_row(run, headlines or {}))
    return rows


def _row(run: Run, headlines: dict[str, str | None]) -> RunRow:
    try:
        doc = run.document()
    except WorkbenchError:
        return RunRow(run.id, "?", "unreadable", "", "", "run.toml cannot be read")
    info = doc["run"]
    seeds = info.get("seeds", {})
    count = seeds.get("count", "") if isinstance(seeds, dict) else seeds
    created = info.get("created")
    created_text = created.strftime("%m-%d %H:%M") if hasattr(created, "strftime") else ""
    results = doc.get("results", {})
    lab = str(info.get("lab", "?"))
    headline = headline_text(results, headlines.get(lab) or info.get("headline"))
    if not headline and info.get("error"):
        headline = f"error: {info['error']}"
    tags = info.get("tags", [])
    return RunRow(
        id=run.id,
        lab=lab,
        status=effective_status(info, run.path),
        seeds=str(count),
        created=created_text,
        headline=headline,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        note=str(info.get("note", "")),
    )


def headline_text(results: dict[str, Any], key: str | None) -> str:
    """``key = value`` of the lab's headline result, else of the first result."""
    if not results:
        return ""
    if key in results and isinstance(results[key], str):
        return str(results[key])  # a verdict line says what it is; the key would crowd it out
    if key not in results:
        key = next(iter(results))
    value = results[key]
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{key} = {shown}"


class RunsTable(DataTable[Any]):
    """The project's runs, newest first. Space marks runs for comparison."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Not in the footer (it does not fit at 80 columns); in the help and the palette.
        Binding("space", "toggle_mark", "Mark", show=False, tooltip="Mark the run for comparison"),
    ]

    #: Column labels; ``nets`` counts the run's networks over all its ensembles
    #: (two tasks of 64 seeds: 128).
    COLUMNS = ("", "id", "lab", "status", "nets", "created", "headline")
    #: Below this width the ``created`` column is left out.
    WIDE = 110
    #: Cells a column takes beyond its content (the cell padding).
    PADDING = 2

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.rows_shown: list[RunRow] = []
        self.marked: set[str] = set()
        self.tag_filter = ""
        self._layout_width = 0

    def on_resize(self) -> None:
        """A new width: lay the columns out again."""
        if self.size.width != self._layout_width:
            self._rebuild()

    def show_rows(self, rows: Sequence[RunRow]) -> None:
        """Replace the rows (a no-op when nothing changed, so the cursor stays put)."""
        rows = [r for r in rows if not self.tag_filter or self.tag_filter in r.tags]
        if rows == self.rows_shown and self.columns:
            return
        self.rows_shown = rows
        self._rebuild()

    def _rebuild(self) -> None:
        keep = self.selected_run_id
        rows = self.rows_shown
        self._layout_width = self.size.width
        self.marked &= {r.id for r in rows}
        self.clear(columns=True)
        for (label, width), key in zip(self._widths(rows), self._shown_columns(), strict=True):
            self.add_column(label, key=key or "mark", width=width)
        for row in rows:
            self.add_row(*self._cells(row), key=row.id)
        if keep is not None:
            with contextlib.suppress(Exception):
                self.move_cursor(row=self.get_row_index(keep))

    def _wide(self) -> bool:
        return (self.size.width or self.app.size.width) >= self.WIDE

    def _shown_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.COLUMNS if self._wide() or c != "created")

    def _widths(self, rows: Sequence[RunRow]) -> list[tuple[str, int]]:
        """Each column as wide as its widest cell; the headline takes the rest."""
        columns = self._shown_columns()
        total = self.size.width or self.app.size.width
        out = []
        for name in columns[:-1]:
            cells = [
                len(str(c))
                for r in rows
                for k, c in zip(columns, self._cells(r), strict=True)
                if k == name
            ]
            label = "st" if name == "status" and not self._wide() else name
            out.append((label, max([len(label), *cells])))
        used = sum(w + self.PADDING for _, w in out) + self.PADDING + 1  # + scroll bar
        out.append(("headline", max(12, total - used)))
        return out

    def _cells(self, row: RunRow) -> list[Any]:
        mark = "✓" if row.id in self.marked else " "
        tags = f"[{' '.join(row.tags)}] " if row.tags else ""
        cells = {
            "": mark,
            "id": row.id,
            "lab": row.lab,
            "status": Text(
                row.status if self._wide() else STATUS_GLYPH.get(row.status, "?"),
                style=STATUS_STYLE.get(row.status, ""),
            ),
            "nets": row.seeds,
            "created": row.created,
            "headline": tags + row.headline,
        }
        return [cells[c] for c in self._shown_columns()]

    @property
    def selected_run_id(self) -> str | None:
        """Id of the run under the cursor."""
        if not self.rows_shown or self.cursor_row < 0 or self.cursor_row >= len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row].id

    @property
    def selected_row(self) -> RunRow | None:
        """The row under the cursor."""
        run_id = self.selected_run_id
        return next((r for r in self.rows_shown if r.id == run_id), None)

    def action_toggle_mark(self) -> None:
        """Mark or unmark the run under the cursor for comparison."""
        run_id = self.selected_run_id
        if run_id is None:
            return
        self.marked ^= {run_id}
        self.update_cell(run_id, "mark", "✓" if run_id in self.marked else " ")
