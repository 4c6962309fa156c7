"""What the screens ask the app to do: open projects, labs and runs; start, export, import.

:class:`WorkbenchActions` is the base of :class:`workbench.tui.app.WorkbenchApp`. It
holds the current project, the labs loaded so far and the run processes this
session started, and turns every failure into a notification. Work that touches
the disk or imports a lab runs in a thread worker and reports back with
``post_message`` (never ``call_from_thread``, which would block the worker on the
event loop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App

from workbench.core.archive import export_run, import_run
from workbench.core.errors import WorkbenchError
from workbench.core.lab import Lab
from workbench.core.locations import data_dir
from workbench.core.registry import available_labs, load_lab
from workbench.core.runs import Project, Run, open_project, remove_run, set_run_notes
from workbench.tui.launch import Launch, start_run
from workbench.tui.messages import LabChoices, LabLoaded, RunsChanged, TaskFailed, TaskFinished
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.dialogs import ChoiceScreen, ConfirmScreen, PathPrompt
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.live import LiveScreen
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench.tui.screens.stepper import LabStepperScreen

__all__ = ["WorkbenchActions", "is_sample_project"]

log = logging.getLogger("workbench.tui")


def is_sample_project(project: Project) -> bool:
    """Whether ``project`` is the sample project (the user's copy or the shipped one)."""
    candidates = [data_dir() / "sample-project"]
    try:
        from workbench.core.samples import sample_project_source

        candidates.append(sample_project_source())
    except (ImportError, WorkbenchError):
        pass
    here = project.path.resolve()
    return any(here == c.resolve() for c in candidates)


class WorkbenchActions(App[None]):
    """Projects, labs and runs, as the screens use them.

    Args:
        project: The project to open.
    """

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        #: The user's own project: where new runs go while the sample project is open.
        self.home_project = project
        self.launches: list[Launch] = []
        self.internal_errors: list[BaseException] = []
        self._labs: dict[str, Lab[Any]] = {}
        self._headlines: dict[str, str | None] = {}
        self._lab_picker: ChoiceScreen | None = None

    # -- errors ----------------------------------------------------------------------------------

    def report(self, err: BaseException, title: str = "Error") -> None:
        """Show an error as a notification (from the event loop)."""
        if not isinstance(err, (WorkbenchError, OSError, ValueError)):
            self.internal_errors.append(err)
            log.error("unexpected error", exc_info=err)
        self.notify(str(err) or type(err).__name__, title=title, severity="error", timeout=8)

    def post_error(self, text: str) -> None:
        """Show an error from a worker thread (through a message, never blocking)."""
        self.post_message(TaskFailed(text))

    def on_task_failed(self, message: TaskFailed) -> None:
        """A worker's error."""
        self.notify(message.text, title="Error", severity="error", timeout=8)

    def on_task_finished(self, message: TaskFinished) -> None:
        """A worker's success."""
        self.notify(message.text, title="Done", timeout=6)

    # -- projects --------------------------------------------------------------------------------

    def switch_project(self, path: str) -> None:
        """Open (or create) a project folder and show its home."""
        try:
            project = open_project(None if path == "default" else path)
        except WorkbenchError as err:
            self.report(err, "Cannot open project")
            return
        self.set_project(project)

    def set_project(self, project: Project) -> None:
        """Make ``project`` current and go back to its home."""
        self.project = project
        if not is_sample_project(project):
            self.home_project = project
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if isinstance(self.screen, HomeScreen):
            self.screen.show_project()
            self.screen.action_refresh()
        note = ""
        if is_sample_project(project):
            note = " (read-only: new runs go to your project)"
        self.notify(f"project {project.name} · {project.path}{note}", title="Project opened")

    @property
    def run_project(self) -> Project:
        """Where a new run goes: the current project, unless it is the sample project,
        which stays as shipped; then the user's own project."""
        if not is_sample_project(self.project):
            return self.project
        if is_sample_project(self.home_project):
            return open_project(None)
        return self.home_project

    def open_sample_project(self) -> None:
        """Copy the sample project to the user data folder (first time) and open it."""
        try:
            from workbench.core.samples import install_sample_project
        except ImportError:
            self.notify("the sample project is not available in this build", severity="warning")
            return
        try:
            project = install_sample_project()
        except (WorkbenchError, OSError, ImportError) as err:
            # ImportError: a source checkout whose install does not ship the samples yet.
            self.notify(
                f"the sample project is not available: {err}",
                title="Cannot open the sample project",
                severity="error",
                timeout=8,
            )
            return
        self.set_project(project)

    # -- labs ------------------------------------------------------------------------------------

    def cached_lab(self, name: str) -> Lab[Any]:
        """Load a lab once (imports it; call from a worker for heavy labs)."""
        lab = self._labs.get(name)
        if lab is None:
            lab = load_lab(name)
            self._labs[name] = lab
            self._headlines[name] = lab.headline
        return lab

    def lab_headlines(self) -> dict[str, str | None]:
        """Headline result key of each lab loaded so far."""
        return dict(self._headlines)

    def choose_lab(self) -> None:
        """Ask which lab to run, then open its stepper."""
        labs = available_labs()
        if not labs:
            self.notify("no labs are installed", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name:
                self.open_lab(name)

        where = ""
        if is_sample_project(self.project):
            where = f" (it goes to project {self.run_project.name}; the sample stays as it is)"
        # The names at once; each lab's one-line title as soon as the labs are imported.
        names = [(name, f"{name} — …") for name in labs]
        self._lab_picker = ChoiceScreen(f"New run: choose a lab{where}", names)
        self.push_screen(self._lab_picker, chosen)
        self.run_worker(self._lab_choices, thread=True, group="lab-list", exit_on_error=False)

    def _lab_choices(self) -> None:
        """Each lab with its one-line title (importing them: a worker's job)."""
        choices = []
        for name in available_labs():
            try:
                title = self.cached_lab(name).title
            except Exception as err:  # a broken lab is listed with why, not hidden
                title = f"cannot be loaded: {type(err).__name__}"
            choices.append((name, f"{name} — {title}"))
        self.post_message(LabChoices(choices))

    def on_lab_choices(self, message: LabChoices) -> None:
        """Show the labs' titles in the picker, if it is still open."""
        picker = self._lab_picker
        if picker is not None and picker.is_attached:
            picker.set_choices(message.choices)

    def open_lab(self, name: str, run: Run | None = None) -> None:
        """Import a lab in the background, then open its stepper."""
        self.notify(f"loading lab {name}…", timeout=2)
        self.run_worker(
            partial(self._load_lab, name, run), thread=True, group="lab", exit_on_error=False
        )

    def _load_lab(self, name: str, run: Run | None) -> None:
        try:
            lab = self.cached_lab(name)
        except WorkbenchError as err:
            self.post_error(str(err))
            return
        except Exception as err:  # a lab that fails to import is the lab's bug, not ours
            log.error("lab %s failed to import", name, exc_info=err)
            self.post_error(f"lab {name!r} could not be imported: {type(err).__name__}: {err}")
            return
        self.post_message(LabLoaded(name, lab, run))

    def on_lab_loaded(self, message: LabLoaded) -> None:
        """Open the stepper of a freshly loaded lab."""
        self.push_screen(LabStepperScreen(message.lab, run=message.run))

    # -- runs ------------------------------------------------------------------------------------

    def find_run(self, run_id: str) -> Run | None:
        """The run with this id in the current project, or a notification."""
        try:
            return self.project.run(run_id)
        except WorkbenchError as err:
            self.report(err)
            return None

    def open_run(self, run_id: str) -> None:
        """Show a run's detail."""
        run = self.find_run(run_id)
        if run is not None:
            self.push_screen(RunDetailScreen(run))

    def follow_run(self, run_id: str | Run) -> None:
        """Show a run's live panels (they follow the run folder)."""
        run = run_id if isinstance(run_id, Run) else self.find_run(run_id)
        if run is not None:
            self.push_screen(LiveScreen(run))

    def compare_runs(self, run_ids: list[str]) -> None:
        """Show two or more runs side by side."""
        runs = [r for r in (self.find_run(i) for i in run_ids) if r is not None]
        if len(runs) >= 2:
            self.push_screen(CompareScreen(runs))

    def start_run(
        self,
        lab: str,
        config: dict[str, Any],
        device: str | None = None,
        *,
        preset: str | None = None,
    ) -> Launch:
        """Start a run process (see :mod:`workbench.tui.launch`); the caller follows it.

        The run goes to :attr:`run_project` (never into the sample project).
        """
        project = self.run_project
        launch = start_run(project, lab, config, device=device or project.device, preset=preset)
        if project.path != self.project.path:
            self.notify(f"the run goes to project {project.name} · {project.path}", timeout=6)
        self.launches.append(launch)
        return launch

    def _reap_launches(self) -> None:
        """Collect finished child processes so they do not linger as zombies."""
        for launch in list(self.launches):
            if launch.poll() is not None:
                launch.cleanup()
                self.launches.remove(launch)

    def save_notes(
        self, run: Run, *, note: str | None = None, tags: list[str] | None = None
    ) -> bool:
        """Store a run's note or tags in its ``run.toml``; ``False`` (and a notification)
        when that is not possible (a running run, a bad tag, the sample project)."""
        if is_sample_project(self.project):
            self.notify("the sample project is read-only", severity="warning")
            return False
        try:
            set_run_notes(run, note=note, tags=tags)
        except (WorkbenchError, OSError) as err:
            self.report(err, "Not saved")
            return False
        self.post_message(RunsChanged())
        return True

    def remove_run(self, run_id: str) -> None:
        """Delete a run folder, after asking."""
        run = self.find_run(run_id)
        if run is None:
            return
        if is_sample_project(self.project):
            self.notify("the sample project is read-only", severity="warning")
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                remove_run(run)
            except (WorkbenchError, OSError) as err:
                self.report(err, "Not removed")
                return
            self.notify(f"removed run {run.id}", timeout=4)
            self.post_message(RunsChanged())

        self.push_screen(
            ConfirmScreen(f"Delete run {run.id} and all its files? This cannot be undone."),
            answer,
        )

    def export_run(self, run_id: str) -> None:
        """Ask where to write the archive, then export in the background."""
        run = self.find_run(run_id)
        if run is None:
            return
        default = str(Path.cwd() / f"{run.id}.tar.gz")

        def chosen(path: str | None) -> None:
            if path:
                self._in_background(
                    lambda: export_run(run, Path(path).expanduser()),
                    lambda out: f"exported {run.id} to {out}",
                )

        self.push_screen(PathPrompt(f"Export run {run.id} to", value=default), chosen)

    def import_run(self) -> None:
        """Ask for an archive, then import it into the current project in the background."""
        project = self.project

        def chosen(path: str | None) -> None:
            if path:
                self._in_background(
                    lambda: import_run(project, Path(path).expanduser()),
                    lambda run: f"imported run {run.id} into {project.name}",
                    changed=True,
                )

        self.push_screen(
            PathPrompt("Import a run archive (.tar.gz)", hint="path to a file made by export"),
            chosen,
        )

    def _in_background(
        self, task: Callable[[], Any], done: Callable[[Any], str], *, changed: bool = False
    ) -> None:
        def work() -> None:
            try:
                result = task()
            except (WorkbenchError, OSError) as err:
                self.post_error(str(err))
                return
            except Exception as err:
                log.error("background task failed", exc_info=err)
                self.post_error(f"{type(err).__name__}: {err}")
                return
            self.post_message(TaskFinished(done(result), result))
            if changed:
                self.post_message(RunsChanged())

        self.run_worker(work, thread=True, group="tasks", exit_on_error=False)

    def on_runs_changed(self, message: RunsChanged) -> None:
        """Refresh the home table after an import."""
        for screen in self.screen_stack:
            if isinstance(screen, HomeScreen):
                screen.action_refresh()
