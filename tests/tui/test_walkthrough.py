"""A whole lab walk-through in the TUI: configure, run (a real process), watch, read, conclude.

Also: a bad config gets the CLI's own message, a cancelled run ends ``interrupted``
and stays readable, and a failed run shows its error. These start real
``python -m workbench run`` processes, so they are marked slow.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from textual.widgets import Input, OptionList, Static

from tests.conftest import cli_env
from tests.tui.conftest import run_async, screen_text, wait_screen, wait_until
from workbench.core.config import validate_field
from workbench.core.errors import ConfigError
from workbench.core.runs import Project, Run
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.array import ArrayScreen
from workbench.tui.screens.dialogs import ChoiceScreen, ConfirmScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.live import LiveScreen
from workbench.tui.screens.stepper import LabStepperScreen
from workbench.tui.widgets.heatmap import HeatmapView
from workbench.tui.widgets.runs_table import RunsTable

from .fake_lab import FakeConfig

pytestmark = pytest.mark.slow
SIZE = (80, 24)


async def open_fake_stepper(pilot) -> LabStepperScreen:  # type: ignore[no-untyped-def]
    await wait_screen(pilot, HomeScreen)
    await pilot.press("n")
    chooser = await wait_screen(pilot, ChoiceScreen)
    options = chooser.query_one(OptionList)
    options.highlighted = [o.id for o in options._options].index("fake")
    await pilot.press("enter")
    return await wait_screen(pilot, LabStepperScreen, timeout=60)


async def set_field(pilot, key: str, text: str) -> None:  # type: ignore[no-untyped-def]
    pilot.app.screen.query_one(f"#field-{key}", Input).value = text
    await pilot.pause()


def test_configure_run_watch_and_conclude(project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            stepper = await open_fake_stepper(pilot)
            assert "Fake lab for TUI tests" in screen_text(app)
            # Inline validation, with the CLI's exact message.
            await set_field(pilot, "seeds", "0")
            with pytest.raises(ConfigError) as cli_error:
                validate_field(FakeConfig, "seeds", "0")
            error = stepper.query_one("#error-seeds", Static)
            assert str(error.render()) == str(cli_error.value)
            await pilot.press("ctrl+r")  # refused: nothing is launched
            await pilot.pause(0.2)
            assert app.launches == [] and isinstance(app.screen, LabStepperScreen)
            assert any("is not allowed" in n.message for n in app._notifications)
            await set_field(pilot, "seeds", "3")
            await set_field(pilot, "delay", "0.05")
            assert stepper.query_one("#config-form").errors == {}
            await pilot.press("ctrl+r")
            live = await wait_screen(pilot, LiveScreen, timeout=60)
            await wait_until(pilot, lambda: live.curves is not None, 60)
            await wait_until(
                pilot, lambda: live.snapshot is not None and live.snapshot.finished, 60
            )
            await pilot.pause(0.6)
            text = screen_text(app)
            assert "completed" in text and "loss (log)" in text
            assert "live/ir_last_hidden" in text
            run = live.run
            assert live.curves.n_series == 6  # 3 seeds × 2 tasks
            await pilot.press("escape")
            await wait_screen(pilot, LabStepperScreen)
            await wait_until(pilot, lambda: stepper.status == "completed")
            await pilot.press("n")  # step 1
            await pilot.pause(0.2)
            assert "Trains seeds networks per task" in screen_text(app)
            assert "● Done" in screen_text(app)
            await pilot.press("n")  # step 2: its views
            await wait_until(pilot, lambda: bool(stepper.query("#step-arrays-analyse")))
            await pilot.pause(0.2)
            assert "first-bit/ir/mean" in screen_text(app)
            stepper.query_one("#step-arrays-analyse", OptionList).focus()
            await pilot.press("enter")
            await wait_screen(pilot, ArrayScreen)
            assert app.screen.query_one(HeatmapView).values.shape == (3, 3)
            await pilot.press("escape")
            await wait_screen(pilot, LabStepperScreen)
            stepper.query_one("#stepper-pages").focus()
            await pilot.press("n")  # conclusion
            await pilot.pause(0.3)
            text = screen_text(app)
            assert "The 3 seeds agree" in text and f"run {run.id} completed" in text
            await pilot.press("escape")
            home = await wait_screen(pilot, HomeScreen)
            await wait_until(pilot, lambda: bool(home.query_one(RunsTable).rows_shown))
            assert home.query_one(RunsTable).rows_shown[0].id == run.id
        assert app.internal_errors == []
        done = Run(run.path)
        assert done.status == "completed" and done.config["seeds"] == 3
        assert done.steps_done == ["train", "analyse"]

    run_async(go())


def test_cancel_leaves_the_run_interrupted_and_readable(project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await open_fake_stepper(pilot)
            await set_field(pilot, "seeds", "2")
            await set_field(pilot, "steps", "100000")
            await set_field(pilot, "delay", "0.05")
            await pilot.press("ctrl+r")
            live = await wait_screen(pilot, LiveScreen, timeout=60)
            await wait_until(pilot, lambda: live.curves is not None, 60)
            await pilot.press("x")
            await wait_screen(pilot, ConfirmScreen)
            await pilot.press("y")
            await wait_until(
                pilot, lambda: live.snapshot is not None and live.snapshot.finished, 60
            )
            await pilot.pause(0.3)
            assert "interrupted" in screen_text(app)
            run = live.run
        assert app.internal_errors == []
        assert run.status == "interrupted"
        assert run.metrics()["loss"].size > 0  # what it logged is still there

    run_async(go())


def test_a_failed_run_shows_its_error(project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await open_fake_stepper(pilot)
            await set_field(pilot, "fail", "true")
            await pilot.press("ctrl+r")
            live = await wait_screen(pilot, LiveScreen, timeout=60)
            await wait_until(
                pilot, lambda: live.snapshot is not None and live.snapshot.finished, 60
            )
            await pilot.pause(0.3)
            assert "The run failed: RuntimeError: the analysis failed on purpose" in screen_text(
                app
            )
        assert app.internal_errors == []

    run_async(go())


def test_the_cli_gives_the_same_config_message() -> None:
    """The form's message is validate_field's, which is what `--set` prints."""
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "config", "fake", "--set", "seeds=0"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    with pytest.raises(ConfigError) as err:
        validate_field(FakeConfig, "seeds", "0")
    # The CLI adds where the value came from; the rest is the same message.
    cli_message = ConfigError(err.value.key, err.value.value, err.value.allowed, "--set")
    assert proc.returncode == 2
    assert " ".join(str(cli_message).split()) in " ".join(proc.stderr.split())
