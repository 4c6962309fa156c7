"""Pilot tests: every screen at 80×24, keys, the command palette, themes, errors."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.widgets import DataTable, Input, TabbedContent

from tests.tui.conftest import make_run, run_async, screen_text, wait_screen, wait_until
from workbench.core.atomic import read_toml
from workbench.core.locations import settings_file, user_themes_dir
from workbench.core.runs import Project, Run, RunWriter, init_project
from workbench.tui.app import WorkbenchApp, _textual_binding
from workbench.tui.screens.array import ArrayScreen
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.live import LiveScreen
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench.tui.widgets.heatmap import HeatmapView
from workbench.tui.widgets.runs_table import RunsTable

SIZE = (80, 24)
NEWEST = "20261121-095000-000-cccc"
MIDDLE = "20261121-094000-000-bbbb"
OLDEST = "20261121-093000-000-aaaa"


async def home_ready(pilot: Any) -> None:
    app = pilot.app
    await wait_screen(pilot, HomeScreen)
    await wait_until(
        pilot,
        lambda: (
            app.screen.query_one(RunsTable).rows_shown or app.screen.query_one("#empty").display
        ),
    )


def finish(app: WorkbenchApp) -> None:
    assert app.internal_errors == [], app.internal_errors


def test_home_lists_runs_newest_first_with_headlines(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            table = app.screen.query_one(RunsTable)
            assert [r.id for r in table.rows_shown] == [NEWEST, MIDDLE, OLDEST]
            assert [r.status for r in table.rows_shown] == ["failed", "completed", "completed"]
            text = screen_text(app)
            assert "Project demo · ~/demo · 3 runs" in text
            # Issue 14: at 80 columns the headline is readable in the table itself (the
            # creation time is in the run id, so its column gives way).
            assert f"{MIDDLE}  fake  ✓" in text.replace("│", " ").replace("  ", "  ")
            row = next(line for line in text.splitlines() if MIDDLE in line)
            assert "first-bit/ir/mean = 0.4321" in row
            await pilot.press("down")
            await pilot.pause()
            assert f"▸ {MIDDLE} · fake · completed · first-bit/ir/mean = 0.4321" in screen_text(app)
        finish(app)

    run_async(go())


def test_an_empty_project_offers_the_sample_project(tmp_path: Path) -> None:
    async def go() -> None:
        app = WorkbenchApp(init_project(tmp_path / "empty"))
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            text = screen_text(app)
            assert "No runs in this project yet" in text and "sample project" in text
            await pilot.press("s")  # without the lead's samples module this is a notification
            await pilot.pause(0.2)
            assert isinstance(app.screen, HomeScreen)
        finish(app)

    run_async(go())


def test_run_detail_tabs_and_back(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await pilot.press("down", "down", "enter")
            await wait_screen(pilot, RunDetailScreen)
            screen = app.screen
            assert screen.run.id == OLDEST
            assert "Run 20261121-093000-000-aaaa" in screen_text(app)
            tabs = screen.query_one(TabbedContent)
            for tab, expected in [
                ("tab-config", "0.01"),
                ("tab-results", "first-bit/ir/mean"),
                ("tab-arrays", "ir_seed_seed/first-bit"),
                ("tab-log", "run completed"),
            ]:
                tabs.active = tab
                await pilot.pause(0.1)
                assert expected in screen_text(app), tab
            tabs.active = "tab-metrics"
            await wait_until(pilot, lambda: screen.curves is not None)
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "44 records" in text and "loss (log)" in text
            await pilot.press("escape")
            await wait_screen(pilot, HomeScreen)
        finish(app)

    run_async(go())


def test_heatmap_cursor_shows_the_exact_value(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            app.open_run(OLDEST)
            await wait_screen(pilot, RunDetailScreen)
            detail = app.screen
            detail.query_one(TabbedContent).active = "tab-arrays"
            await pilot.pause(0.1)
            table = detail.query_one("#detail-arrays", DataTable)
            table.focus()
            await pilot.press("enter")  # the first array: ir_seed_seed/first-bit
            await wait_screen(pilot, ArrayScreen)
            heatmap = app.screen.query_one(HeatmapView)
            assert app.focused is heatmap
            await pilot.press("right", "right", "down")
            assert heatmap.cursor == (1, 2)
            assert heatmap.selected_value == pytest.approx(0.5)
            text = screen_text(app)
            assert "◆ 0.5 at seed 1 × seed 2" in text
            assert "↓ seed   → seed" in text
            await pilot.press("end")
            assert heatmap.cursor == (3, 3)
            await pilot.press("right_square_bracket")  # next array: the spectrum
            await pilot.pause(0.1)
            assert "spectrum/hidden" in screen_text(app)
            assert "rank k" in screen_text(app)
        finish(app)

    run_async(go())


def test_no_color_heatmap_switches_to_numbers(demo_project: Project, no_color: None) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            assert app.no_color
            await home_ready(pilot)
            run = demo_project.run(OLDEST)
            items = [("ir_seed_seed/first-bit", _heatmap_view())]
            await app.push_screen(ArrayScreen(run, items))
            await wait_until(pilot, lambda: bool(app.screen.query(HeatmapView)))
            await pilot.pause(0.1)
            text = screen_text(app)
            # 1 / (1 + |i - j|) as numbers, and the character legend instead of a colour bar.
            assert "0     1 0.500 0.333 0.250" in text
            assert "scale ▁≥" in text
        finish(app)

    run_async(go())


def _heatmap_view() -> Any:
    from workbench.core.lab import View

    return View("heatmap", "IR", "ir_seed_seed/*", x_label="seed", y_label="seed")


def test_compare_marked_runs(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await pilot.press("c")  # nothing marked yet: a hint, no screen
            await pilot.pause(0.1)
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("down", "space", "down", "space", "c")
            await wait_screen(pilot, CompareScreen)
            screen = app.screen
            assert [r.id for r in screen.runs] == [MIDDLE, OLDEST]
            results = screen.query_one("#compare-results", DataTable)
            row = [str(cell) for cell in results.get_row("first-bit/ir/mean")]
            assert row == ["≠ first-bit/ir/mean", "0.4321", "0.5625"]
            screen.query_one(TabbedContent).active = "tab-cmp-config"
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "≠ seeds" in text and "≠ lr" in text and "steps" not in text
            await pilot.press("f")  # show identical keys too
            await pilot.pause(0.1)
            assert "steps" in screen_text(app)
            screen.query_one(TabbedContent).active = "tab-cmp-loss"
            await wait_until(pilot, lambda: bool(screen.curves))
            await pilot.pause(0.1)
            assert "#1 median" in screen_text(app)
        finish(app)

    run_async(go())


def test_help_lists_the_keys_of_the_screen(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await pilot.press("question_mark")
            await wait_screen(pilot, HelpScreen)
            text = screen_text(app)
            for words in (
                "Choose a lab",
                "Compare the runs",
                "Export the",
                "Import a run",
                "sample",
            ):
                assert words in text
            await pilot.press("escape")
            await wait_screen(pilot, HomeScreen)
            await pilot.press("f1")
            await wait_screen(pilot, HelpScreen)
        finish(app)

    run_async(go())


def test_command_palette_reaches_every_bound_action(demo_project: Project) -> None:
    """Every key binding with a description, on every main screen, is a palette command."""

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            run = demo_project.run(OLDEST)
            screens = [
                app.screen,
                RunDetailScreen(run),
                LiveScreen(run),
                ArrayScreen(run, [("ir_seed_seed/first-bit", _heatmap_view())]),
                CompareScreen([run, demo_project.run(MIDDLE)]),
            ]
            for screen in screens:
                if screen is not app.screen:
                    await app.push_screen(screen)
                    await pilot.pause(0.1)
                commands = [c.title for c in app.get_system_commands(screen)]
                titles = set(commands)
                assert len(commands) == len(titles), commands  # issue 14: no duplicates
                for active in screen.active_bindings.values():
                    b = active.binding
                    if _textual_binding(active.node, b.action) and b.action != "quit":
                        # Textual's cursor keys (Bottom, Cursor down...) clutter the palette.
                        assert b.description not in titles, b.description
                        continue
                    if b.description and b.action not in ("command_palette", "quit"):
                        assert b.description in titles, (type(screen).__name__, b.description)
                assert {"Theme", "New run", "Quit"} <= titles
                assert titles & {"Open sample project", "Sample"}
            # And the palette itself runs them: open it, type, enter.
            app.pop_screen()
            await pilot.pause(0.1)
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*"Help")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await wait_screen(pilot, HelpScreen)
        finish(app)

    run_async(go())


def test_theme_from_flag_from_settings_and_from_the_palette(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project, theme="light")
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            assert app.theme == "light"
            assert app.heatmap_ramp == "viridis"
            assert not settings_file().exists()  # --theme is not a saved choice
            app.theme = "high-contrast"  # what the palette's theme picker does
            await pilot.pause(0.1)
            assert app.heatmap_ramp == "magma"
            assert read_toml(settings_file())["theme"] == "high-contrast"
            # A theme file dropped in while the app runs is offered by the theme picker.
            user_themes_dir().mkdir(parents=True)
            (user_themes_dir() / "paper.toml").write_text('[colors]\nprimary = "#123456"\n')
            assert "paper" not in app.available_themes
            app.action_change_theme()
            await pilot.pause(0.2)
            assert "paper" in app.available_themes
            await pilot.press("escape")
        finish(app)
        app2 = WorkbenchApp(demo_project)
        async with app2.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            assert app2.theme == "high-contrast"  # the saved choice
        finish(app2)

    run_async(go())


def test_unknown_theme_falls_back_with_a_notification(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project, theme="neon")
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            assert app.theme == "dark"
            assert any("theme 'neon' is not known" in n.message for n in app._notifications)
        finish(app)

    run_async(go())


def test_unreadable_run_folder_is_shown_not_raised(demo_project: Project) -> None:
    (demo_project.runs_dir / OLDEST / "run.toml").write_text("[run\nbroken")

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            rows = app.screen.query_one(RunsTable).rows_shown
            assert rows[-1].status == "unreadable"
            await pilot.press("down", "down", "enter")
            await wait_screen(pilot, RunDetailScreen)
            await pilot.pause(0.1)
            assert "Cannot read run" in screen_text(app)
            await pilot.press("l")
            await wait_screen(pilot, LiveScreen)
            await wait_until(pilot, lambda: app.screen.snapshot is not None)
            await pilot.pause(0.1)
            assert "Cannot read the run folder" in screen_text(app)
        finish(app)

    run_async(go())


def test_export_and_import_from_the_ui(demo_project: Project, tmp_path: Path) -> None:
    archive = tmp_path / "out.tar.gz"
    other = init_project(tmp_path / "other")

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await pilot.press("down", "e")
            await pilot.pause(0.2)
            prompt = app.screen.query_one(Input)
            assert prompt.value.endswith(f"{MIDDLE}.tar.gz")
            prompt.value = str(archive)
            await pilot.press("enter")
            await wait_until(pilot, archive.exists)
            with tarfile.open(archive) as tar:
                assert f"{MIDDLE}/run.toml" in tar.getnames()
            app.set_project(other)
            await pilot.pause(0.2)
            await pilot.press("i")
            await pilot.pause(0.2)
            app.screen.query_one(Input).value = str(archive)
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(other.runs()) == 1)
            await wait_until(pilot, lambda: len(app.screen.query_one(RunsTable).rows_shown) == 1)
            # A bad archive is a notification, and the app carries on.
            await pilot.press("i")
            await pilot.pause(0.2)
            app.screen.query_one(Input).value = str(tmp_path / "missing.tar.gz")
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: any("does not exist" in n.message for n in app._notifications)
            )
            assert isinstance(app.screen, HomeScreen)
        finish(app)

    run_async(go())


def test_open_another_project(demo_project: Project, tmp_path: Path) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await pilot.press("o")
            await pilot.pause(0.2)
            app.screen.query_one(Input).value = str(tmp_path / "fresh")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.project.path == (tmp_path / "fresh").resolve())
            await pilot.pause(0.3)
            assert "Project fresh" in screen_text(app)
            # A folder that is not a project and not empty is refused with a message.
            junk = tmp_path / "junk"
            junk.mkdir()
            (junk / "file.txt").write_text("x")
            await pilot.press("o")
            await pilot.pause(0.2)
            app.screen.query_one(Input).value = str(junk)
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert app.project.path == (tmp_path / "fresh").resolve()
            assert any("not empty" in n.message for n in app._notifications)
        finish(app)

    run_async(go())


def test_live_screen_follows_a_run_written_by_another_process(project: Project) -> None:
    """The run folder is the source of truth: a writer outside the TUI shows up live."""
    run_id, path = project.new_run_dir()
    writer = RunWriter.create(
        path, run_id=run_id, lab="fake", config={}, device="cpu", seeds=(0, 3)
    )

    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            app.follow_run(run_id)
            await wait_screen(pilot, LiveScreen)
            screen = app.screen
            await wait_until(pilot, lambda: screen.snapshot is not None)
            for step in range(0, 60, 10):
                writer.append_metrics(
                    [
                        {"step": step, "seed": s, "task": "first-bit", "loss": 1 / (1 + step + s)}
                        for s in range(3)
                    ]
                    + [{"step": step, "task": "first-bit", "live/ir_last_hidden": step / 100}]
                )
            writer.write_progress(
                "train", 50, 200, {"converged": 2, "diverged": 1, "steps_per_second": 1234.0}
            )
            await wait_until(
                pilot, lambda: screen.curves is not None and len(screen.curves.steps) == 6
            )
            await wait_until(pilot, lambda: "live/ir_last_hidden" in screen.live_curves)
            await pilot.pause(0.6)
            text = screen_text(app)
            assert "running" in text and "step 1/2 Train the ensembles" in text
            assert "50/200" in text and "1234 steps/s" in text
            assert "converged 2" in text and "diverged 1" in text
            assert "loss (log)" in text and "now: first-bit 0.5" in text
            await pilot.press("g")
            await pilot.pause(0.6)
            assert "loss (log)" not in screen_text(app)
            writer.mark_step_done("train")
            writer.finish("completed")
            await wait_until(
                pilot, lambda: screen.snapshot is not None and screen.snapshot.finished
            )
            await pilot.pause(0.3)
            assert "completed" in screen_text(app)
            await pilot.press("x")  # nothing to cancel now
            await pilot.pause(0.1)
            assert any("nothing to cancel" in n.message for n in app._notifications)
        finish(app)

    try:
        run_async(go())
    finally:
        if not writer._metrics_fh.closed:
            writer.finish("interrupted")


def test_a_live_array_measure_is_drawn_as_a_heatmap(project: Project) -> None:
    run = make_run(project, "20261121-093000-000-dddd")
    arr = np.array([[1.0, 0.25], [0.25, 1.0]])
    (run.path / "arrays" / "live").mkdir(parents=True, exist_ok=True)
    np.save(run.path / "arrays" / "live" / "ir_last_hidden.npy", arr)

    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            app.follow_run(Run(run.path))
            await wait_screen(pilot, LiveScreen)
            await wait_until(pilot, lambda: bool(app.screen.query(HeatmapView)))
            await pilot.pause(0.2)
            np.testing.assert_array_equal(app.screen.query_one(HeatmapView).values, arr)
            assert "mean 0.625" in screen_text(app)
        finish(app)

    run_async(go())
