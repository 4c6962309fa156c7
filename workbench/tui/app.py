"""The workbench Textual app: screens, themes, and the services screens share.

``workbench`` (no subcommand) calls :func:`run_app`. The app itself stays small:
screens live in :mod:`workbench.tui.screens`, widgets in :mod:`workbench.tui.widgets`,
the run-folder follower in :mod:`workbench.tui.follow` and process launching in
:mod:`workbench.tui.launch`. Long work (reading runs, importing a lab, export,
import) runs in thread workers that ``post_message`` their results.

Errors a user can act on (:class:`~workbench.core.errors.WorkbenchError`) become
notifications. Anything else is a bug: it is logged with its traceback (to
``tui.log`` in the user data folder) and shown as a notification too; the app
keeps running.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.theme import Theme

from workbench.core.archive import export_run, import_run
from workbench.core.errors import WorkbenchError
from workbench.core.lab import Lab
from workbench.core.locations import data_dir
from workbench.core.registry import available_labs, load_lab
from workbench.core.runs import Project, Run, open_project
from workbench.render.plots import PlotPalette
from workbench.tui.launch import Launch, start_run
from workbench.tui.messages import LabLoaded, RunsChanged, TaskFailed, TaskFinished
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.dialogs import ChoiceScreen, PathPrompt
from workbench.tui.screens.help import HelpScreen, keys_table
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.live import LiveScreen
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench.tui.screens.stepper import LabStepperScreen
from workbench.tui.themes import DEFAULT_THEME, ThemeSpec, discover_themes, save_theme, saved_theme

__all__ = ["WorkbenchApp", "run_app"]

log = logging.getLogger("workbench.tui")


class WorkbenchApp(App[None]):
    """The workbench: projects, labs, live runs, heatmaps and spectra in a terminal.

    Args:
        project: The project to open.
        theme: Theme name (``--theme``); default: the saved choice, else ``dark``.
    """

    CSS_PATH = "workbench.tcss"
    TITLE = "workbench"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, project: Project, theme: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.requested_theme = theme
        self.theme_specs: dict[str, ThemeSpec] = {}
        self.plot_palette = PlotPalette()
        self.heatmap_ramp = "viridis"
        self._theme_in_use = ""
        self.launches: list[Launch] = []
        self.internal_errors: list[BaseException] = []
        self._labs: dict[str, Lab[Any]] = {}
        self._headlines: dict[str, str | None] = {}

    # -- start-up --------------------------------------------------------------------------------

    def on_mount(self) -> None:
        """Register themes, choose one, open the project home."""
        specs, problems = discover_themes()
        self.theme_specs = specs
        for spec in specs.values():
            self.register_theme(spec.theme)
        for problem in problems:
            self.notify(problem, title="Theme file skipped", severity="warning", timeout=8)
        self._apply_start_theme()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_interval(1.0, self._reap_launches)
        self.push_screen(HomeScreen())

    def _apply_start_theme(self) -> None:
        wanted = self.requested_theme or saved_theme() or DEFAULT_THEME
        if wanted not in self.available_themes:
            self.notify(
                f"theme {wanted!r} is not known; using {DEFAULT_THEME!r}. "
                f"Themes: {', '.join(sorted(self.theme_specs))}",
                severity="warning",
            )
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted
        self._use_theme_colours(wanted)
        self._theme_in_use = wanted

    def _theme_changed(self, theme: Theme) -> None:
        """A theme picked in the command palette: use its plot colours and remember it.

        The start-up theme (from ``--theme`` or the settings) is not saved again.
        """
        if theme.name == self._theme_in_use:
            return
        self._theme_in_use = theme.name
        self._use_theme_colours(theme.name)
        try:
            save_theme(theme.name)
        except OSError as err:
            self.notify(f"could not save the theme choice: {err}", severity="warning")

    def _use_theme_colours(self, name: str) -> None:
        spec = self.theme_specs.get(name)
        self.plot_palette = spec.palette if spec is not None else PlotPalette()
        self.heatmap_ramp = spec.heatmap_ramp if spec is not None else "viridis"

    # -- errors ----------------------------------------------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """Keep running after a bug in a handler: log it and tell the user, no traceback."""
        if not self.is_running or self._exit_renderables or not self.screen_stack:
            super()._handle_exception(error)
            return
        self.internal_errors.append(error)
        log.error("internal error", exc_info=error)
        self.notify(
            f"internal error: {type(error).__name__}: {error}. "
            f"Details are in {data_dir() / 'tui.log'}",
            title="Something went wrong",
            severity="error",
            timeout=10,
        )

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

    # -- help and the command palette ------------------------------------------------------------

    def action_help(self) -> None:
        """Show the help screen with the keys of the current screen."""
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(keys_table(self.screen, self)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key-bound action of the current screen, then the app's own commands."""
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.action in seen or not active.enabled:
                continue
            if binding.action in ("command_palette", "quit"):
                continue
            seen.add(binding.action)
            key = binding.key_display or binding.key.split(",")[0]
            yield SystemCommand(
                binding.description,
                f"{binding.tooltip or binding.description} (key: {key})",
                partial(self._run_bound_action, active.node, binding.action),
            )
        yield SystemCommand(
            "Open sample project",
            "Open the project of small completed runs",
            self.open_sample_project,
        )
        yield SystemCommand("New run", "Pick a lab, configure it and run it", self.choose_lab)
        yield SystemCommand(
            "Import run", "Import a run archive (.tar.gz) into this project", self.import_run
        )
        yield from super().get_system_commands(screen)

    async def _run_bound_action(self, node: Any, action: str) -> None:
        await self.run_action(action, node)

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
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if isinstance(self.screen, HomeScreen):
            self.screen.show_project()
            self.screen.action_refresh()
        self.notify(f"project {project.name} · {project.path}", title="Project opened")

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
        choices = [(name, name) for name in labs]

        def chosen(name: str | None) -> None:
            if name:
                self.open_lab(name)

        self.push_screen(ChoiceScreen("New run: choose a lab", choices), chosen)

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

    def start_run(self, lab: str, config: dict[str, Any], device: str = "auto") -> Launch:
        """Start a run process (see :mod:`workbench.tui.launch`); the caller follows it."""
        launch = start_run(self.project, lab, config, device=device)
        self.launches.append(launch)
        return launch

    def _reap_launches(self) -> None:
        """Collect finished child processes so they do not linger as zombies."""
        for launch in list(self.launches):
            if launch.poll() is not None:
                launch.cleanup()
                self.launches.remove(launch)

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


def run_app(project: Project, theme: str | None) -> None:
    """Run the workbench TUI on ``project`` until the user quits.

    Args:
        project: The project to open (``workbench --project DIR``).
        theme: Theme name (``workbench --theme NAME``), or ``None`` for the saved choice.
    """
    handler: logging.Handler | None = None
    with contextlib.suppress(OSError):
        data_dir().mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(data_dir() / "tui.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    try:
        WorkbenchApp(project, theme).run()
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
