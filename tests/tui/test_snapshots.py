"""Snapshot tests of the main screens at 80×24 (pytest-textual-snapshot).

The run folders are built by the test with fixed ids, times and values, and the
project lives under a temporary ``~``, so the pictures do not depend on when or
where the tests run. Update after an intended change with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import TabbedContent

from tests.tui.conftest import wait_screen, wait_until
from workbench.core.lab import View
from workbench.core.registry import load_lab
from workbench.core.runs import Project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.array import ArrayScreen
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.live import LiveScreen
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench.tui.screens.stepper import LabStepperScreen
from workbench.tui.widgets.heatmap import HeatmapView
from workbench.tui.widgets.runs_table import RunsTable

OLDEST = "20261121-093000-000-aaaa"
IR = "ir_seed_seed/first-bit"
MIDDLE = "20261121-094000-000-bbbb"
SIZE = (80, 24)


async def home_ready(pilot: Any) -> None:
    screen = await wait_screen(pilot, HomeScreen)
    await wait_until(pilot, lambda: bool(screen.query_one(RunsTable).rows_shown))
    await pilot.pause(0.1)


def test_home(snap_compare: Any, demo_project: Project) -> None:
    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=home_ready)


def test_home_light_theme(snap_compare: Any, demo_project: Project) -> None:
    app = WorkbenchApp(demo_project, theme="light")
    assert snap_compare(app, terminal_size=SIZE, run_before=home_ready)


def test_home_high_contrast_theme(snap_compare: Any, demo_project: Project) -> None:
    app = WorkbenchApp(demo_project, theme="high-contrast")
    assert snap_compare(app, terminal_size=SIZE, run_before=home_ready)


def test_run_detail(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(RunDetailScreen(demo_project.run(OLDEST)))
        await wait_screen(pilot, RunDetailScreen)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_run_detail_metrics(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(RunDetailScreen(demo_project.run(OLDEST)))
        screen = await wait_screen(pilot, RunDetailScreen)
        screen.query_one(TabbedContent).active = "tab-metrics"
        await wait_until(pilot, lambda: screen.curves is not None)
        await pilot.pause(0.1)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def _array_screen(demo_project: Project, name: str, kind: str) -> ArrayScreen:
    source = "ir_seed_seed/*" if kind == "heatmap" else "spectrum/*"
    view = View(kind, "IR seed × seed" if kind == "heatmap" else "Hidden eigenspectrum", source)  # type: ignore[arg-type]
    if kind == "heatmap":
        view = View("heatmap", "IR seed × seed", source, x_label="seed", y_label="seed")
    return ArrayScreen(demo_project.run(OLDEST), [(name, view)])


def test_heatmap(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(
            _array_screen(demo_project, "ir_seed_seed/first-bit", "heatmap")
        )
        await wait_screen(pilot, ArrayScreen)
        await pilot.press("down", "right", "right")
        assert pilot.app.screen.query_one(HeatmapView).cursor == (1, 2)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_heatmap_no_color(
    snap_compare: Any, demo_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(
            _array_screen(demo_project, "ir_seed_seed/first-bit", "heatmap")
        )
        await wait_screen(pilot, ArrayScreen)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_spectrum(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(_array_screen(demo_project, "spectrum/hidden", "spectrum"))
        await wait_screen(pilot, ArrayScreen)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_live_finished_run(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(LiveScreen(demo_project.run(OLDEST)))
        screen = await wait_screen(pilot, LiveScreen)
        await wait_until(pilot, lambda: screen.snapshot is not None and screen.snapshot.finished)
        await wait_until(pilot, lambda: screen._finished_polls >= 2)
        await pilot.pause(0.2)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_stepper_config(snap_compare: Any, demo_project: Project) -> None:
    lab = load_lab("fake")

    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(LabStepperScreen(lab))
        screen = await wait_screen(pilot, LabStepperScreen)
        screen.query_one("#field-seeds").value = "0"  # an invalid value, shown inline
        screen.query_one("#stepper-pages").focus()
        await pilot.pause(0.1)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_help(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_compare(snap_compare: Any, demo_project: Project) -> None:
    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        runs = [demo_project.run(MIDDLE), demo_project.run(OLDEST)]
        await pilot.app.push_screen(CompareScreen(runs))
        screen = await wait_screen(pilot, CompareScreen)
        screen.query_one(TabbedContent).active = "tab-cmp-config"
        await pilot.pause(0.1)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


# --- issue 14: what must read at 80×24 -----------------------------------------------------------


def _long_summary_run(project: Project) -> Any:
    from tests.tui.test_issue14 import _long_summary_run as make

    return make(project)


def test_conclusion_scrolled_to_its_end(snap_compare: Any, demo_project: Project) -> None:
    run = _long_summary_run(demo_project)

    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(LabStepperScreen(load_lab("fake"), run=run))
        stepper = await wait_screen(pilot, LabStepperScreen)
        await wait_until(pilot, lambda: stepper.status == "completed")
        stepper.query_one("#stepper-pages").focus()
        stepper.show_page("page-end")
        await wait_until(pilot, lambda: bool(stepper.query("#end-results")))
        await pilot.pause(0.2)
        page = stepper.query_one("#page-end")
        await pilot.press("end")
        await wait_until(pilot, lambda: page.scroll_y == page.max_scroll_y > 0, timeout=10)
        await pilot.pause(0.2)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_run_detail_summary_table(snap_compare: Any, demo_project: Project) -> None:
    run = _long_summary_run(demo_project)

    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.app.push_screen(RunDetailScreen(run))
        screen = await wait_screen(pilot, RunDetailScreen)
        await pilot.pause(0.2)
        scroll = screen.query_one("#detail-summary-scroll")
        await wait_until(pilot, lambda: scroll.max_scroll_y >= 8, timeout=10)
        scroll.scroll_to(y=8, animate=False)
        await pilot.pause(0.2)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)


def test_home_with_a_long_headline(snap_compare: Any, demo_project: Project) -> None:
    from tests.tui.conftest import make_run

    long = "first-bit vs random-lookup: less information in 0, more in 1 of 4 layers"
    make_run(
        demo_project,
        "20261121-100000-000-eeee",
        results={"summary/finding": long},
        minutes=40,
    )

    async def before(pilot: Any) -> None:
        await home_ready(pilot)
        await wait_until(pilot, lambda: len(pilot.app.screen.query_one(RunsTable).rows_shown) == 4)
        await pilot.pause(0.2)

    assert snap_compare(WorkbenchApp(demo_project), terminal_size=SIZE, run_before=before)
