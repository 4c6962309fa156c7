"""The lab stepper: configure a lab, run it, and walk its steps to the conclusion.

Pages, in order: *Configure* (the lab's description, a preset picker and its
config form), one page per step (its Markdown explanation, its status, and once
done its result views), and *Conclusion* (the run's ``summary.md`` and headline
results). Every page scrolls as a whole: PageDown/PageUp/Home/End scroll it even
while the page list has focus, and Tab moves into it. ``n``/``b`` go to the
next/previous page, ``ctrl+r`` runs the lab with the form's config, and escape
asks before it discards edits to the form. The run is a separate process (see
:mod:`workbench.tui.launch`); the live screen opens on it, and this page keeps
following its folder to mark the steps done and fill in their results.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from workbench.core.config import config_to_dict
from workbench.core.errors import ConfigError, WorkbenchError
from workbench.core.lab import Lab
from workbench.core.runs import Run, effective_status
from workbench.tui.estimate import estimate_run_time
from workbench.tui.launch import Launch, LaunchError, find_launched_run
from workbench.tui.screens.array import ArrayScreen
from workbench.tui.screens.dialogs import ConfirmScreen
from workbench.tui.widgets.config_form import ConfigForm
from workbench.tui.widgets.config_page import ConfigPage
from workbench.tui.widgets.fit_markdown import FitMarkdown
from workbench.tui.widgets.step_results import ResultsTable, StepResults

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

__all__ = ["LabStepperScreen", "StepState"]

POLL_SECONDS = 0.5

ICON = {"pending": "○", "running": "◐", "done": "●", "failed": "✗", "stopped": "◌"}


class StepState(Message):
    """The followed run's state: status, steps done, step in progress."""

    def __init__(
        self, run: Run | None, status: str, steps_done: tuple[str, ...], step: str, error: str = ""
    ) -> None:
        super().__init__()
        self.run = run
        self.status = status
        self.steps_done = steps_done
        self.step = step
        self.error = error


class PageList(OptionList):
    """The stepper's page list. Up/Down pick a page; the paging keys scroll the page itself."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown", "screen.scroll_page(1)", "Scroll down", show=False),
        Binding("pageup", "screen.scroll_page(-1)", "Scroll up", show=False),
        Binding("end", "screen.scroll_end", "Page end", show=False),
        Binding("home", "screen.scroll_home", "Page top", show=False),
    ]


class EstimateReady(Message):
    """The time estimate for the form's config was computed in a worker."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LabStepperScreen(Screen[None]):
    """Configure, run and read one lab, step by step.

    Args:
        lab: The lab.
        run: A run of this lab to show (its config fills the form; its results the pages).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding(
            "n,ctrl+n", "page(1)", "Next", key_display="n", tooltip="Next page (ctrl+n in a field)"
        ),
        Binding(
            "b,ctrl+b",
            "page(-1)",
            "Prev",
            key_display="b",
            tooltip="Previous page (ctrl+b in a field)",
        ),
        Binding("l", "live", "Live"),
        Binding("d", "detail", "Detail"),
        Binding("escape", "leave", "Back", tooltip="Back (asks before discarding config edits)"),
    ]

    def __init__(self, lab: Lab[Any], *, run: Run | None = None) -> None:
        super().__init__()
        self.lab = lab
        self.run = run
        self.launch: Launch | None = None
        self.status = "" if run is None else _status(run)
        self.steps_done: tuple[str, ...] = ()
        self.current_step = ""
        self._pages = ["page-config", *(f"page-step-{s.key}" for s in lab.steps), "page-end"]
        self._filled: set[str] = set()
        self._in_flight = False
        self._opened_live = False
        self._final_polls = 0

    @property
    def wb(self) -> WorkbenchApp:
        """The workbench app."""
        return cast("WorkbenchApp", self.app)

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Page list on the left, the page on the right."""
        yield Header()
        with Horizontal(id="stepper"):
            yield PageList(*self._page_options(), id="stepper-pages")
            with ContentSwitcher(initial="page-config", id="stepper-content"):
                values, preset = None, None
                if self.run is not None:
                    with contextlib.suppress(WorkbenchError):
                        values = self.run.config
                        preset = self.run.info.get("preset")
                yield ConfigPage(self.lab, values, preset=preset, id="page-config")
                for index, step in enumerate(self.lab.steps):
                    with VerticalScroll(id=f"page-step-{step.key}"):
                        yield Static(
                            f"{index + 1}. {step.title}", classes="page-title", markup=False
                        )
                        yield FitMarkdown(step.explanation)
                        yield Static(
                            "", id=f"status-{step.key}", classes="step-status", markup=False
                        )
                        yield Vertical(id=f"results-{step.key}", classes="step-results")
                with VerticalScroll(id="page-end"):
                    yield Static("Conclusion", classes="page-title")
                    yield Static("", id="end-status", classes="step-status", markup=False)
                    yield Vertical(id="end-body")
        yield Footer(compact=True)

    def _page_options(self) -> list[Option]:
        options = [Option("Configure", id="page-config")]
        for index, step in enumerate(self.lab.steps):
            options.append(
                Option(f"{ICON['pending']} {index + 1}. {step.title}", id=f"page-step-{step.key}")
            )
        options.append(Option("Conclusion", id="page-end"))
        return options

    def on_mount(self) -> None:
        """Show the lab; if a run is given, follow it."""
        self.sub_title = self.lab.name
        self.set_interval(POLL_SECONDS, self._tick)
        self.query_one("#config-form", ConfigForm).focus_first()
        self._estimate()
        if self.run is not None:
            self._tick()

    # -- the config page -------------------------------------------------------------------------

    def on_config_form_validity(self, message: ConfigForm.Validity) -> None:
        """A field changed: estimate again."""
        self._estimate()

    def _estimate(self) -> None:
        form = self.query_one("#config-form", ConfigForm)
        try:
            config = config_to_dict(form.build())
        except ConfigError:
            return
        self._compute_estimate(config)

    @work(thread=True, exclusive=True, exit_on_error=False, group="stepper-estimate")
    def _compute_estimate(self, config: dict[str, Any]) -> None:
        try:
            found = estimate_run_time(self.wb.run_project, self.lab.name, config)
        except (WorkbenchError, OSError):
            found = None
        if found is None:
            text = (
                "time: no estimate yet (no finished run of this lab on this machine); "
                "the live view shows the ETA from the run's first steps"
            )
        else:
            from workbench.tui.screens.live import format_duration

            text = f"time: about {format_duration(found.seconds)} ({found.note})"
        self.post_message(EstimateReady(text))

    def on_estimate_ready(self, message: EstimateReady) -> None:
        """Show the estimate under the form."""
        self.query_one(ConfigPage).show_estimate(message.text)

    def action_leave(self) -> None:
        """Go back; with edits in the form, ask first (they would be lost)."""
        form = self.query_one("#config-form", ConfigForm)
        if not form.edited or self.launch is not None:
            self.app.pop_screen()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.app.pop_screen()

        self.app.push_screen(ConfirmScreen("Discard your edits to the config and go back?"), answer)

    def action_scroll_page(self, direction: int) -> None:
        """Scroll the page on screen by one screenful."""
        page = self._page_widget()
        if direction > 0:
            page.scroll_page_down()
        else:
            page.scroll_page_up()

    def action_scroll_end(self) -> None:
        """Scroll the page on screen to its end."""
        self._page_widget().scroll_end(animate=False)

    def action_scroll_home(self) -> None:
        """Scroll the page on screen to its top."""
        self._page_widget().scroll_home(animate=False)

    def _page_widget(self) -> VerticalScroll:
        return self.query_one(f"#{self.page}", VerticalScroll)

    # -- navigation ------------------------------------------------------------------------------

    @property
    def page(self) -> str:
        """Id of the page on screen."""
        return self.query_one(ContentSwitcher).current or "page-config"

    def show_page(self, page_id: str) -> None:
        """Switch to a page and highlight it in the list.

        Leaving the config page moves focus to the page list, so that n/b, PageDown
        and End act on pages rather than on a field that is no longer on screen.
        """
        focused = self.focused
        if page_id != "page-config" and focused is not None:
            config = self.query_one("#page-config")
            if focused is config or config in focused.ancestors:
                self.query_one("#stepper-pages").focus()
        self.query_one(ContentSwitcher).current = page_id
        pages = self.query_one("#stepper-pages", OptionList)
        pages.highlighted = self._pages.index(page_id)
        self._fill(page_id)

    def action_page(self, delta: int) -> None:
        """Next (``1``) or previous (``-1``) page."""
        index = self._pages.index(self.page) + delta
        if 0 <= index < len(self._pages):
            self.show_page(self._pages[index])

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """Moving in the page list shows that page."""
        if event.option_list.id == "stepper-pages" and event.option.id is not None:
            event.stop()
            self.query_one(ContentSwitcher).current = event.option.id
            self._fill(event.option.id)

    # -- running ---------------------------------------------------------------------------------

    def action_run(self) -> None:
        """Validate the form and start the run in its own process."""
        if self.status == "running":
            self.notify("this lab is already running; l shows it live", severity="warning")
            return
        form = self.query_one("#config-form", ConfigForm)
        try:
            config = form.build()
        except ConfigError as err:
            self.show_page("page-config")
            self.notify(str(err), title="Invalid config", severity="error", timeout=10)
            with contextlib.suppress(Exception):
                form.focus_field(err.key)
            return
        page = self.query_one(ConfigPage)
        preset = page.preset if not form.edited else None
        try:
            self.launch = self.wb.start_run(self.lab.name, config_to_dict(config), preset=preset)
        except (LaunchError, WorkbenchError, OSError) as err:
            self.wb.report(err, "Cannot start the run")
            return
        self.run = None
        self.status = "starting"
        self._final_polls = 0
        self.steps_done = ()
        self._filled.clear()
        self._opened_live = False
        self._clear_results()
        self.notify(f"starting {self.lab.name}…", timeout=3)
        # Leave the form: n and b now turn pages instead of typing into a field.
        self.query_one("#stepper-pages", OptionList).focus()
        self._tick()

    def _tick(self) -> None:
        if self._in_flight:
            return
        if self.run is None and self.launch is None:
            return
        if self.status in ("completed", "failed", "interrupted") and self._final_polls >= 2:
            return  # a finished run does not change any more
        self._in_flight = True
        self._poll()

    @work(thread=True, exit_on_error=False, group="stepper-poll")
    def _poll(self) -> None:
        run = self.run
        launch = self.launch
        if run is None and launch is not None:
            run = find_launched_run(launch.project, launch)
            if run is None:
                code = launch.poll()
                if code is not None:
                    self.post_message(
                        StepState(None, "failed", (), "", _launch_error(launch, code))
                    )
                else:
                    self.post_message(StepState(None, "starting", (), ""))
                return
        assert run is not None
        try:
            info = run.info
        except WorkbenchError as err:
            self.post_message(StepState(run, "unreadable", (), "", str(err)))
            return
        step = str(run.progress().get("step", ""))
        done = tuple(str(s) for s in info.get("steps_done", []))
        self.post_message(
            StepState(run, effective_status(info, run.path), done, step, str(info.get("error", "")))
        )

    def on_step_state(self, message: StepState) -> None:
        """Mark the steps, fill finished pages, open the live view for a new run."""
        self._in_flight = False
        if message.status == "failed" and message.run is None:
            self.status = "failed"
            self.launch = None
            self.notify(message.error, title="The run did not start", severity="error", timeout=15)
            return
        if message.run is None:
            return
        first_sight = self.run is None
        self.run = message.run
        self.status = message.status
        if message.status in ("completed", "failed", "interrupted"):
            self._final_polls += 1
        self.steps_done = message.steps_done
        self.current_step = message.step
        self._mark_steps()
        if first_sight and self.launch is not None and not self._opened_live:
            self._opened_live = True
            self.app.push_screen(self._live_screen())
        if message.status == "failed" and message.error:
            self.query_one("#end-status", Static).update(f"The run failed: {message.error}")
        self._fill(self.page)

    def _mark_steps(self) -> None:
        pages = self.query_one("#stepper-pages", OptionList)
        for index, step in enumerate(self.lab.steps):
            state = self._step_state(step.key)
            pages.replace_option_prompt_at_index(
                index + 1, f"{ICON[state]} {index + 1}. {step.title}"
            )
            self.query_one(f"#status-{step.key}", Static).update(_status_line(state, self.run))

    def _step_state(self, key: str) -> str:
        if key in self.steps_done:
            return "done"
        if self.run is None:
            return "pending"
        if self.status == "running":
            return "running" if key == self.current_step else "pending"
        if self.status == "failed" and key == self.current_step:
            return "failed"
        return "stopped" if self.status in ("interrupted", "failed") else "pending"

    def _clear_results(self) -> None:
        for container in self.query(".step-results"):
            container.remove_children()
        self.query_one("#end-body").remove_children()
        self.query_one("#end-status", Static).update("")

    def _fill(self, page_id: str) -> None:
        """Fill a step page with its results once the step is done (once)."""
        if self.run is None or page_id in self._filled:
            return
        if page_id == "page-end":
            if self.status == "completed":
                self._filled.add(page_id)
                self._fill_end()
            return
        if not page_id.startswith("page-step-"):
            return
        key = page_id.removeprefix("page-step-")
        if key not in self.steps_done:
            return
        self._filled.add(page_id)
        step = self.lab.step(key)
        self.query_one(f"#results-{key}", Vertical).mount(StepResults(self.run, step))

    def _fill_end(self) -> None:
        assert self.run is not None
        body = self.query_one("#end-body", Vertical)
        try:
            summary = self.run.text("summary.md")
            results = self.run.results
        except WorkbenchError as err:
            body.mount(Static(f"cannot read the run: {err}", classes="error-panel"))
            return
        self.query_one("#end-status", Static).update(f"run {self.run.id} completed")
        body.mount(FitMarkdown(summary or "*This lab wrote no summary; its results are below.*"))
        if results:
            body.mount(Static("Headline results", classes="view-title"))
            body.mount(ResultsTable(results, id="end-results"))

    def on_step_results_open_array(self, message: StepResults.OpenArray) -> None:
        """Open an array chosen in a step's results."""
        self.app.push_screen(ArrayScreen(message.run, message.items, message.index))

    def _live_screen(self) -> Screen[None]:
        from workbench.tui.screens.live import LiveScreen

        assert self.run is not None
        return LiveScreen(self.run, self.lab)

    def action_live(self) -> None:
        """Show the run live."""
        if self.run is None and self.launch is not None and self.status == "starting":
            # The process is up but has not written its folder yet (importing torch...).
            self._opened_live = False
            self.notify("the run is starting; its live view opens as soon as it has a folder")
            return
        if self.run is None:
            self.notify("no run yet: ctrl+r starts one", severity="warning")
            return
        self.app.push_screen(self._live_screen())

    def action_detail(self) -> None:
        """Open the run's detail."""
        if self.run is None:
            self.notify("no run yet: ctrl+r starts one", severity="warning")
            return
        self.wb.open_run(self.run.id)


def _status(run: Run) -> str:
    try:
        return effective_status(run.info, run.path)
    except WorkbenchError:
        return "unreadable"


def _status_line(state: str, run: Run | None) -> str:
    words = {
        "pending": "Not run yet." if run is None else "Waiting for the earlier steps.",
        "running": "Running now…",
        "done": "Done. Its results are below.",
        "failed": "This step failed; the run's log has the details (d, then Log).",
        "stopped": "Not run: the run stopped before this step.",
    }
    return f"{ICON[state]} {words[state]}"


def _launch_error(launch: Launch, code: int) -> str:
    text = launch.error_text()
    return text or f"the run process exited with code {code} before creating its run folder"
