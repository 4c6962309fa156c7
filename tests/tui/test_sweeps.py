"""Sweeps in the TUI at 80×24: the sweep list, a sweep's cells, its heatmap, opening a run."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.tui.conftest import run_async, screen_text, wait_screen, wait_until
from workbench.core.registry import load_lab
from workbench.core.runs import Project
from workbench.core.sweep import create_sweep
from workbench.core.sweep_engines import run_cell
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench.tui.screens.sweeps import SweepScreen, SweepsScreen
from workbench.tui.widgets.heatmap import HeatmapView

SIZE = (80, 24)


def _finished_sweep(project: Project) -> Any:
    """A 2×2 sweep of the counting lab, its cells run in this process (no pool)."""
    lab = load_lab("counting")
    sweep = create_sweep(
        project, lab, base={"seeds": 2}, grid={"steps": [2, 3], "mode": ["sum", "max"]}
    )
    for cell in sweep.cells[:3]:  # the fourth stays pending
        cell.state, cell.run, cell.error = run_cell(
            str(project.path), sweep.lab, cell.config, "cpu", sweep.id, cell.index
        )
    sweep.save()
    return sweep


def test_sweeps_open_into_cells_heatmap_and_runs(project: Project) -> None:
    sweep = _finished_sweep(project)

    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await wait_screen(pilot, HomeScreen)
            await pilot.press("w")
            await wait_screen(pilot, SweepsScreen)
            await wait_until(pilot, lambda: sweep.id in screen_text(app))
            text = screen_text(app)
            assert "counting" in text and "3/4" in text
            await pilot.press("enter")
            await wait_screen(pilot, SweepScreen)
            await wait_until(pilot, lambda: "3 done" in screen_text(app))
            text = screen_text(app)
            assert "1 running" not in text and "of 4" in text
            view = app.screen.query_one(HeatmapView)
            assert view.display and view.values.shape == (2, 2)
            # The cell (steps=3, mode=max) never ran: its heatmap cell is NaN.
            assert np.isnan(view.values).sum() == 1
            first_key = view.title
            await pilot.press("k")
            assert app.screen.query_one(HeatmapView).title != first_key
            await pilot.press("a")
            assert app.screen.query_one(HeatmapView).x_label == "mode"
            await pilot.press("enter")  # the first cell's run
            await wait_screen(pilot, RunDetailScreen)
            assert app.internal_errors == []

    run_async(go())


def test_no_sweeps_says_how_to_start_one(project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await wait_screen(pilot, HomeScreen)
            await pilot.press("w")
            await wait_screen(pilot, SweepsScreen)
            await wait_until(pilot, lambda: "No sweeps" in screen_text(app))

    run_async(go())
