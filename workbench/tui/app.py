"""The workbench Textual app: start-up, themes, help, the command palette, errors.

``workbench`` (no subcommand) calls :func:`run_app`. The app itself stays small:
what screens ask of it (projects, labs, runs, export, import) is in
:mod:`workbench.tui.actions`; screens live in :mod:`workbench.tui.screens`, widgets
in :mod:`workbench.tui.widgets`, the run-folder follower in
:mod:`workbench.tui.follow` and process launching in :mod:`workbench.tui.launch`.
Long work runs in thread workers that ``post_message`` their results.

Errors a user can act on (:class:`~workbench.core.errors.WorkbenchError`) become
notifications. Anything else is a bug: it is logged with its traceback (to
``tui.log`` in the user data folder) and shown as a notification too; the app
keeps running.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from functools import partial
from typing import Any, ClassVar, cast

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.screen import Screen
from textual.theme import Theme, ThemeProvider

from workbench.core.locations import data_dir
from workbench.core.runs import Project
from workbench.render.plots import PlotPalette
from workbench.tui.actions import WorkbenchActions
from workbench.tui.screens.help import HelpScreen, keys_table
from workbench.tui.screens.home import HomeScreen
from workbench.tui.themes import (
    DEFAULT_THEME,
    SettingsError,
    ThemeSpec,
    discover_themes,
    save_theme,
    saved_theme,
)

__all__ = ["WorkbenchApp", "run_app"]

log = logging.getLogger("workbench.tui")


class WorkbenchThemes(ThemeProvider):
    """The theme picker lists workbench's themes (shipped and the user's), not Textual's."""

    @property
    def commands(self) -> list[tuple[str, Any]]:
        app = cast("WorkbenchApp", self.app)
        own = set(app.theme_specs)
        return [(name, cmd) for name, cmd in super().commands if name in own or not own]


class WorkbenchApp(WorkbenchActions):
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
        super().__init__(project)
        self.requested_theme = theme
        self.theme_specs: dict[str, ThemeSpec] = {}
        self.plot_palette = PlotPalette()
        self.heatmap_ramp = "viridis"
        self._theme_in_use = ""

    # -- start-up --------------------------------------------------------------------------------

    def on_mount(self) -> None:
        """Register themes, choose one, open the project home."""
        self._register_themes()
        self._apply_start_theme()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_interval(1.0, self._reap_launches)
        self.push_screen(HomeScreen())

    def _register_themes(self) -> None:
        """Read the theme files (shipped and the user's) and register them with Textual."""
        specs, problems = discover_themes()
        self.theme_specs = specs
        for spec in specs.values():
            self.register_theme(spec.theme)
        for problem in problems:
            self.notify(problem, title="Theme file skipped", severity="warning", timeout=8)

    def action_change_theme(self) -> None:
        """Pick a theme (command palette); files dropped in the themes folder since start-up
        are read first, so they show up without a restart."""
        self._register_themes()
        if self.theme in self.theme_specs:
            self._use_theme_colours(self.theme)
        self.search_themes()

    def search_themes(self) -> None:
        """The theme picker, with workbench's own themes only."""
        self.push_screen(
            CommandPalette(providers=[WorkbenchThemes], placeholder="Search for themes…")
        )

    def _apply_start_theme(self) -> None:
        try:
            saved = saved_theme()
        except SettingsError as err:
            saved = None
            self.notify(str(err), title="Settings not read", severity="warning", timeout=10)
        wanted = self.requested_theme or saved or DEFAULT_THEME
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
        except SettingsError as err:
            self.notify(f"the theme choice was not saved: {err}", severity="warning", timeout=10)
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

    # -- help and the command palette ------------------------------------------------------------

    def action_help(self) -> None:
        """Show the help screen with the keys of the current screen."""
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(keys_table(self.screen, self)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key-bound action of the current screen, then the app's own commands."""
        seen: set[str] = set()
        titles: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.action in seen or not active.enabled:
                continue
            if binding.action in ("command_palette", "quit", "app.quit"):
                continue
            if binding.description in titles:
                continue
            if _textual_binding(active.node, binding.action):
                continue  # Textual's own cursor keys (Bottom, Cursor down...): not commands
            seen.add(binding.action)
            titles.add(binding.description)
            key = binding.key_display or binding.key.split(",")[0]
            yield SystemCommand(
                binding.description,
                f"{binding.tooltip or binding.description} (key: {key})",
                partial(self._run_bound_action, active.node, binding.action),
            )
        own = [
            ("sample", "Open sample project", "Open the project of small completed runs"),
            ("new_run", "New run", "Pick a lab, configure it and run it"),
            ("import_run", "Import run", "Import a run archive (.tar.gz) into this project"),
        ]
        actions = {
            "sample": self.open_sample_project,
            "new_run": self.choose_lab,
            "import_run": self.import_run,
        }
        for action, title, help_text in own:
            if action not in seen:
                yield SystemCommand(title, help_text, actions[action])
        yield SystemCommand(
            "Theme", "Change the theme (workbench's themes)", self.action_change_theme
        )
        yield SystemCommand("Quit", "Quit the workbench", self.action_quit)

    async def _run_bound_action(self, node: Any, action: str) -> None:
        await self.run_action(action, node)


def _textual_binding(node: Any, action: str) -> bool:
    """Whether ``action`` is bound by one of Textual's own classes in ``node``'s ancestry
    (cursor keys, scrolling), rather than by workbench code."""
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("textual."):
            continue
        for item in cls.__dict__.get("BINDINGS", ()):
            bound = item.action if isinstance(item, Binding) else item[1]
            if bound == action:
                return True
    return False


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
