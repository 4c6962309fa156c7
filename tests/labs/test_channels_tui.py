"""A channels run reads in the TUI's run detail at 80×24: summary, arrays and every view kind."""

from __future__ import annotations

from typing import Any

from textual.widgets import TabbedContent

from tests.labs.test_channels_lab import TINY
from tests.tui.conftest import run_async, screen_text, wait_screen, wait_until
from workbench.core.runner import run_lab
from workbench.core.runs import Project
from workbench.render.views import array_plot_spec, matching_arrays
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench_labs.channels import LAB


def test_run_detail_at_80_by_24(project: Project) -> None:
    run = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    # Every declared view finds its arrays (a glob that matches nothing would show nothing).
    for step in LAB.steps:
        for view in step.views:
            if view.kind in ("heatmap", "spectrum", "curve"):
                names = matching_arrays(run, view)
                assert names, (step.key, view.source)
                if view.kind != "heatmap":
                    assert array_plot_spec(run, names[0], view).lines

    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.push_screen(RunDetailScreen(run))
            screen: Any = await wait_screen(pilot, RunDetailScreen)
            tabs = screen.query_one(TabbedContent)
            # Only the top rows fit in 24 lines; any of the lab's namespaces shows it is there.
            names = ("invertible/", "dropout/", "gaussian/", "map/", "verdict/")
            for tab in ("tab-results", "tab-arrays"):
                tabs.active = tab
                await wait_until(pilot, lambda: any(n in screen_text(app) for n in names), 90)
        assert app.internal_errors == [], app.internal_errors

    run_async(go())
