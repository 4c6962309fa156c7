"""Project home: the current project and its runs table.

From here a user opens a run (enter), follows a live one (l), starts a new run
from a lab (n), compares marked runs (space, then c), exports (e) or imports (i)
a run, opens another project (o) or the sample project (s).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.tui.screens.dialogs import PathPrompt
from workbench.tui.widgets.runs_table import RunRow, RunsTable, read_run_rows

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

__all__ = ["HomeScreen"]

#: Seconds between re-reads of the runs (new runs, status changes).
REFRESH_SECONDS = 2.0

EMPTY_TEXT = (
    "No runs in this project yet.\n"
    "Press [b]n[/b] to configure and run a lab, or [b]s[/b] to open the sample project "
    "with real results."
)


def display_path(path: Path) -> str:
    """A path with the home folder shortened to ``~``."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


class HomeScreen(Screen[None]):
    """The project and its runs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_run", "Open run", show=False, tooltip="Open the selected run"),
        Binding("n", "new_run", "New run", tooltip="Choose a lab, configure it and run it"),
        Binding("l", "live", "Live", tooltip="Follow the selected run live"),
        Binding("c", "compare", "Compare", tooltip="Compare the runs marked with space"),
        Binding("e", "export", "Export", tooltip="Export the selected run as .tar.gz"),
        # Footer space at 80 columns is for the most used keys; the rest are in ? and ^p.
        Binding("i", "import_run", "Import", show=False, tooltip="Import a run archive here"),
        Binding("o", "open_project", "Project", show=False, tooltip="Open another project"),
        Binding("s", "sample", "Sample", tooltip="Open the sample project of completed runs"),
        Binding("t", "tags", "Tags", tooltip="Edit the selected run's tags"),
        Binding("a", "note", "Note", show=False, tooltip="Edit the selected run's note"),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Show only runs with a tag"),
        Binding("delete", "remove", "Delete run", show=False, tooltip="Delete the selected run"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Re-read the runs now"),
        Binding("w", "sweeps", "Sweeps", show=False, tooltip="Sweeps and their cells"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    class RowsRead(Message):
        """The worker read the runs."""

        def __init__(self, project_path: Path, rows: list[RunRow]) -> None:
            super().__init__()
            self.project_path = project_path
            self.rows = rows

    @property
    def wb(self) -> WorkbenchApp:
        """The workbench app."""
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        """Project line, runs table, preview of the highlighted run."""
        yield Header()
        yield Static("", id="project-bar", markup=False)
        yield RunsTable(id="runs")
        yield Static(EMPTY_TEXT, id="empty")
        yield Static("", id="run-preview", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the runs now and every few seconds."""
        self.show_project()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)
        self.action_refresh()

    def on_screen_resume(self) -> None:
        """Coming back from another screen: refresh at once."""
        self.show_project()
        self.action_refresh()

    def show_project(self) -> None:
        """Update the project line."""
        project = self.wb.project
        self.sub_title = project.name
        bar = self.query_one("#project-bar", Static)
        bar.update(f"Project {project.name} · {display_path(project.path)}")

    # -- reading runs ----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Re-read the runs in the background."""
        self._read_rows()

    @work(thread=True, exclusive=True, group="home-rows", exit_on_error=False)
    def _read_rows(self) -> None:
        project = self.wb.project
        try:
            rows = read_run_rows(project, self.wb.lab_headlines())
        except OSError as err:
            self.wb.post_error(f"cannot read the runs of {project.path}: {err}")
            return
        self.post_message(self.RowsRead(project.path, rows))

    def on_home_screen_rows_read(self, message: RowsRead) -> None:
        """Show the rows (ignoring a late answer about a previous project)."""
        if message.project_path != self.wb.project.path:
            return
        table = self.query_one(RunsTable)
        table.show_rows(message.rows)
        empty = not message.rows
        self.query_one("#empty").display = empty
        table.display = not empty
        n = len(message.rows)
        running = sum(r.status == "running" for r in message.rows)
        bar = self.query_one("#project-bar", Static)
        live = f", {running} running" if running else ""
        bar.update(
            f"Project {self.wb.project.name} · {display_path(self.wb.project.path)} · "
            f"{n} run{'s' if n != 1 else ''}{live}"
        )
        self._preview()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the highlighted run's headline in full under the table."""
        self._preview()

    def _preview(self) -> None:
        row = self.query_one(RunsTable).selected_row
        preview = self.query_one("#run-preview", Static)
        if row is None:
            preview.update("")
            return
        table = self.query_one(RunsTable)
        marked = len(table.marked)
        mark = f"  [{marked} marked]" if marked else ""
        tags = f" · tags {' '.join(row.tags)}" if row.tags else ""
        note = f" · note: {row.note}" if row.note else ""
        shown = f" · filter: {table.tag_filter}" if table.tag_filter else ""
        preview.update(
            f"▸ {row.id} · {row.lab} · {row.status} · {row.headline}{tags}{note}{mark}{shown}"
        )

    # -- actions ---------------------------------------------------------------------------------

    def _selected(self) -> str | None:
        run_id = self.query_one(RunsTable).selected_run_id
        if run_id is None:
            self.notify("no run selected", severity="warning")
        return run_id

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row opens the run."""
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        """Open the selected run's detail."""
        run_id = self._selected()
        if run_id is not None:
            self.wb.open_run(run_id)

    def action_live(self) -> None:
        """Follow the selected run live (any status: a finished run shows its final state)."""
        run_id = self._selected()
        if run_id is not None:
            self.wb.follow_run(run_id)

    def action_sweeps(self) -> None:
        """Open the sweeps: groups of runs over a grid of configs."""
        from workbench.tui.screens.sweeps import SweepsScreen

        self.app.push_screen(SweepsScreen())

    def action_new_run(self) -> None:
        """Pick a lab and open its stepper."""
        self.wb.choose_lab()

    def action_compare(self) -> None:
        """Compare the marked runs (or the selected one with the previous)."""
        table = self.query_one(RunsTable)
        ids = [r.id for r in table.rows_shown if r.id in table.marked]
        if len(ids) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.wb.compare_runs(ids)

    def action_export(self) -> None:
        """Export the selected run as a .tar.gz."""
        run_id = self._selected()
        if run_id is not None:
            self.wb.export_run(run_id)

    def action_import_run(self) -> None:
        """Import a run archive into this project."""
        self.wb.import_run()

    def action_open_project(self) -> None:
        """Open or create another project folder."""

        def chosen(path: str | None) -> None:
            if path:
                self.wb.switch_project(path)

        self.app.push_screen(
            PathPrompt(
                "Open project folder (created if new or empty)",
                value=str(self.wb.project.path),
                hint="enter to open · escape to cancel · 'default' opens the default project",
            ),
            chosen,
        )

    def action_tags(self) -> None:
        """Edit the selected run's tags."""
        run_id = self._selected()
        run = self.wb.find_run(run_id) if run_id else None
        if run is None:
            return
        row = self.query_one(RunsTable).selected_row
        current = " ".join(row.tags) if row is not None else ""

        def chosen(text: str | None) -> None:
            if text is not None:
                self.wb.save_notes(run, tags=text.replace(",", " ").split())

        self.app.push_screen(
            PathPrompt(
                f"Tags of run {run.id}",
                value=current,
                hint="words separated by spaces · enter saves · escape cancels",
                allow_empty=True,
            ),
            chosen,
        )

    def action_note(self) -> None:
        """Edit the selected run's note."""
        run_id = self._selected()
        run = self.wb.find_run(run_id) if run_id else None
        if run is None:
            return
        row = self.query_one(RunsTable).selected_row

        def chosen(text: str | None) -> None:
            if text is not None:
                self.wb.save_notes(run, note=text)

        self.app.push_screen(
            PathPrompt(
                f"Note on run {run.id}",
                value=row.note if row is not None else "",
                hint="one line · enter saves · escape cancels",
                allow_empty=True,
            ),
            chosen,
        )

    def action_filter(self) -> None:
        """Show only the runs with a tag (empty: all runs)."""
        table = self.query_one(RunsTable)

        def chosen(text: str | None) -> None:
            if text is None:
                return
            table.tag_filter = text.strip()
            self.action_refresh()
            if table.tag_filter:
                self.notify(f"showing runs tagged {table.tag_filter!r} (/ then enter: all)")

        self.app.push_screen(
            PathPrompt(
                "Show runs with the tag",
                value=table.tag_filter,
                hint="one tag · empty shows every run · escape cancels",
                allow_empty=True,
            ),
            chosen,
        )

    def action_remove(self) -> None:
        """Delete the selected run (after asking)."""
        run_id = self._selected()
        if run_id is not None:
            self.wb.remove_run(run_id)

    def action_sample(self) -> None:
        """Open the sample project of small completed runs."""
        self.wb.open_sample_project()
