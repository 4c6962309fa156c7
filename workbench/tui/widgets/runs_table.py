"""The runs table of the project home: id, lab, status, seeds, created, headline."""

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


@dataclass(frozen=True)
class RunRow:
    """One row of the runs table, read from a run folder."""

    id: str
    lab: str
    status: str
    seeds: str
    created: str
    headline: str


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
    return RunRow(
        id=run.id,
        lab=lab,
        status=effective_status(info, run.path),
        seeds=str(count),
        created=created_text,
        headline=headline,
    )


def headline_text(results: dict[str, Any], key: str | None) -> str:
    """``key = value`` of the lab's headline result, else of the first result."""
    if not results:
        return ""
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

    COLUMNS = ("", "id", "lab", "status", "seeds", "created", "headline")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.rows_shown: list[RunRow] = []
        self.marked: set[str] = set()

    def on_mount(self) -> None:
        """Create the columns."""
        for label in self.COLUMNS:
            self.add_column(label, key=label or "mark")

    def show_rows(self, rows: Sequence[RunRow]) -> None:
        """Replace the rows (a no-op when nothing changed, so the cursor stays put)."""
        rows = list(rows)
        if rows == self.rows_shown:
            return
        keep = self.selected_run_id
        self.rows_shown = rows
        self.marked &= {r.id for r in rows}
        self.clear()
        for row in rows:
            self.add_row(*self._cells(row), key=row.id)
        if keep is not None:
            with contextlib.suppress(Exception):
                self.move_cursor(row=self.get_row_index(keep))

    def _cells(self, row: RunRow) -> list[Any]:
        mark = "✓" if row.id in self.marked else " "
        return [
            mark,
            row.id,
            row.lab,
            Text(row.status, style=STATUS_STYLE.get(row.status, "")),
            row.seeds,
            row.created,
            row.headline,
        ]

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
