"""Issue 14, the workbench at 80×24: each test names the problem it guards against.

Every test here failed on the code before the fix (the page clipped, escape
discarded edits, ``f`` did nothing on Results...). All run at 80×24 with the
fake lab and fixed run folders, so they are fast.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, Select, TabbedContent

from tests.tui.conftest import make_run, run_async, screen_text, wait_screen, wait_until
from workbench.core.lab import Lab
from workbench.core.registry import load_lab
from workbench.core.runs import Project, init_project
from workbench.tui.app import WorkbenchApp, WorkbenchThemes
from workbench.tui.screens.compare import CompareScreen, abbreviate_middle, key_width
from workbench.tui.screens.dialogs import ConfirmScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.run_detail import RunDetailScreen
from workbench.tui.screens.stepper import LabStepperScreen
from workbench.tui.widgets.config_form import ConfigForm
from workbench.tui.widgets.runs_table import RunsTable

SIZE = (80, 24)
OLDEST = "20261121-093000-000-aaaa"
MIDDLE = "20261121-094000-000-bbbb"
LAST_LINE = "This is the last line of the conclusion."

LONG_SUMMARY = "\n".join(
    [
        "# Conclusion",
        "",
        "| layer | first-bit | random-lookup | Δ (bits) | p | verdict | less / more / unclear |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| layer{i} | 4.9{i} | 4.8{i} | -0.0{i} | 0.{i}07 | no significant difference "
            f"| 0 / 0 / 18 |"
            for i in range(1, 5)
        ),
        "",
        *(f"Paragraph {i}: the seeds agree on layer {i} within their spread." for i in range(12)),
        "",
        LAST_LINE,
        "",
    ]
)


async def home_ready(pilot: Any) -> None:
    screen = await wait_screen(pilot, HomeScreen)
    await wait_until(
        pilot,
        lambda: bool(screen.query_one(RunsTable).rows_shown) or screen.query_one("#empty").display,
    )


def finish(app: WorkbenchApp) -> None:
    assert app.internal_errors == [], app.internal_errors


def _long_summary_run(project: Project) -> Any:
    run = make_run(project, "20261121-100000-000-dddd", minutes=30)
    (run.path / "summary.md").write_text(LONG_SUMMARY, encoding="utf-8")
    return run


async def _stepper_on(pilot: Any, lab: Lab[Any], run: Any = None) -> LabStepperScreen:
    await home_ready(pilot)
    await pilot.app.push_screen(LabStepperScreen(lab, run=run))
    return await wait_screen(pilot, LabStepperScreen)  # type: ignore[no-any-return]


# --- Broken 1: the Conclusion page is cut off and does not scroll --------------------------------


def test_conclusion_page_scrolls_to_its_last_line(demo_project: Project) -> None:
    run = _long_summary_run(demo_project)

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            stepper = await _stepper_on(pilot, load_lab("fake"), run)
            await wait_until(pilot, lambda: stepper.status == "completed")
            stepper.query_one("#stepper-pages").focus()
            stepper.show_page("page-end")
            await wait_until(pilot, lambda: bool(stepper.query("#end-results")))
            await pilot.pause(0.2)
            assert LAST_LINE not in screen_text(app)  # the page is taller than the screen
            page = stepper.query_one("#page-end")
            await pilot.press("end")  # from the page list: scrolls the page itself
            await wait_until(pilot, lambda: page.scroll_y > 0, timeout=5)
            await wait_until(pilot, lambda: "first-bit/ir/mean" in screen_text(app), timeout=5)
            await pilot.press("home")
            await wait_until(pilot, lambda: page.scroll_y == 0, timeout=5)
            # The wide table, stacked at 80 columns, shows its cells whole.
            await wait_until(pilot, lambda: "no significant difference" in screen_text(app), 5)
            assert "laye…" not in screen_text(app)
            await pilot.press("pagedown")
            await wait_until(pilot, lambda: page.scroll_y > 0, timeout=5)
            page = stepper.query_one("#page-end")
            page.scroll_to_widget(stepper.query_one("#end-body"), animate=False)
            await pilot.press("end")
            await wait_until(pilot, lambda: page.scroll_y == page.max_scroll_y > 0, timeout=5)
            assert LAST_LINE in screen_text(app) or "loss/final/mean" in screen_text(app)
        finish(app)

    run_async(go())


def test_lab_introduction_is_never_cut(demo_project: Project) -> None:
    intro = " ".join(f"Sentence {i} of a long lab introduction." for i in range(40))
    lab = dataclasses.replace(load_lab("fake"), description=intro + " INTRODUCTION-ENDS-HERE.")

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            stepper = await _stepper_on(pilot, lab)
            description = stepper.query_one("#lab-description")
            await pilot.pause(0.2)
            # The whole text is laid out (old code: max-height 6, cut mid-sentence).
            assert description.size.height >= 20
            stepper.query_one("#stepper-pages").focus()
            texts = []
            for _ in range(4):
                texts.append(screen_text(app))
                await pilot.press("pagedown")
                await pilot.pause(0.15)
            assert any("INTRODUCTION-ENDS-HERE." in t for t in texts)
        finish(app)

    run_async(go())


# --- Broken 2: escape in a field discards every edit ---------------------------------------------


def test_escape_in_a_config_field_asks_before_discarding_edits(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            stepper = await _stepper_on(pilot, load_lab("fake"))
            field = stepper.query_one("#field-seeds", Input)
            assert app.focused is stepper.query_one("#field-seeds")  # focus starts in a field
            await pilot.press("end", "backspace", "7")
            assert field.value == "7"
            await pilot.press("escape")
            await wait_screen(pilot, ConfirmScreen)
            await pilot.press("n")  # keep editing
            await wait_screen(pilot, LabStepperScreen)
            assert stepper.query_one("#field-seeds", Input).value == "7"
            await pilot.press("escape")
            await wait_screen(pilot, ConfirmScreen)
            await pilot.press("y")
            await wait_screen(pilot, HomeScreen)
            # Without edits, escape simply goes back.
            await app.push_screen(LabStepperScreen(load_lab("fake")))
            await wait_screen(pilot, LabStepperScreen)
            await pilot.press("escape")
            await wait_screen(pilot, HomeScreen)
        finish(app)

    run_async(go())


def test_an_emptied_field_names_its_default_not_a_value_key(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            stepper = await _stepper_on(pilot, load_lab("fake"))
            stepper.query_one("#field-lr", Input).value = ""
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "(value)" not in text
            assert "empty: the default 0.01 is used" in text
            assert stepper.query_one(ConfigForm).errors == {}
        finish(app)

    run_async(go())


def test_a_preset_fills_the_form(demo_project: Project) -> None:
    lab = dataclasses.replace(load_lab("fake"), presets={"quick": {"seeds": 2, "steps": 20}})

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            stepper = await _stepper_on(pilot, lab)
            assert stepper.query_one("#field-seeds", Input).value == "4"
            stepper.query_one("#preset", Select).value = "quick"
            await pilot.pause(0.2)
            assert stepper.query_one("#field-seeds", Input).value == "2"
            assert stepper.query_one("#field-steps", Input).value == "20"
            assert not stepper.query_one(ConfigForm).edited  # a preset is not an edit
        finish(app)

    run_async(go())


# --- Broken 3: compare's f does nothing on Results -----------------------------------------------


def test_compare_only_differences_filters_results_with_markers(tmp_path: Path) -> None:
    project = init_project(tmp_path / "home" / "cmp", name="cmp")
    shared = "robustness/first-bit_vs_random-lookup/layer2/tol_1e-05/trained_below_1e-07"
    make_run(project, OLDEST, results={"a/same": 1.0, "a/differs": 0.5, shared + "/p": 0.1})
    make_run(project, MIDDLE, results={"a/same": 1.0, "a/differs": 0.7, shared + "/q": 0.2})

    async def go() -> None:
        app = WorkbenchApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await app.push_screen(CompareScreen([project.run(OLDEST), project.run(MIDDLE)]))
            screen = await wait_screen(pilot, CompareScreen)
            table = screen.query_one("#compare-results", DataTable)
            keys = [str(k.value) for k in table.rows]
            assert "a/same" not in keys and "a/differs" in keys  # only differences by default
            assert str(table.get_row("a/differs")[0]).startswith("≠ ")
            text = screen_text(app)
            # Long keys are cut in the middle, so their distinct ends stay readable.
            assert "…/trained_below_1e-07/p" in text and "…/trained_below_1e-07/q" in text
            table.focus()
            await pilot.pause(0.1)
            assert f"▸ {shared}/p" in screen_text(app) or "▸ a/differs" in screen_text(app)
            await pilot.press("f")
            await pilot.pause(0.1)
            keys = [str(k.value) for k in table.rows]
            assert "a/same" in keys
            assert str(table.get_row("a/same")[0]).startswith("  ")
        finish(app)

    run_async(go())


def test_abbreviate_middle_and_key_width() -> None:
    assert abbreviate_middle("abcdefghij", 10) == "abcdefghij"
    assert abbreviate_middle("abcdefghijk", 5) == "ab…jk"
    assert len(abbreviate_middle("x" * 100, 17)) == 17
    # Two runs at 80 columns leave the key column what the values do not need.
    assert key_width(80, 2, 200) == 80 - 2 - 3 * 2 - 2 * 12
    assert key_width(80, 2, 10) == 16  # never narrower than the minimum
    assert key_width(200, 2, 30) == 30  # never wider than the longest key


# --- run detail, metrics, palette, themes, sample project ----------------------------------------


def test_run_detail_focus_starts_in_the_summary_and_metrics_plot_any_metric(
    demo_project: Project,
) -> None:
    run = _long_summary_run(demo_project)
    with open(run.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
        for step in range(0, 101, 10):
            record = {"step": step, "task": "first-bit", "live/ir_last_hidden": step / 100}
            fh.write(json.dumps(record) + "\n")

    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            await app.push_screen(RunDetailScreen(run))
            screen = await wait_screen(pilot, RunDetailScreen)
            scroll = screen.query_one("#detail-summary-scroll")
            assert app.focused is scroll
            await wait_until(pilot, lambda: scroll.max_scroll_y > 0)  # the summary is laid out
            await pilot.press("pagedown")
            await wait_until(pilot, lambda: scroll.scroll_y > 0, timeout=5)
            await pilot.press("4")  # the Metrics tab, from anywhere
            await wait_until(pilot, lambda: bool(screen.metric_names))
            assert screen.metric_names == ["loss", "live/ir_last_hidden"]
            await pilot.press("m")
            await pilot.pause(0.2)
            assert "metric 2/2: live/ir_last_hidden" in screen_text(app)
            assert screen.query_one(TabbedContent).active == "tab-metrics"
        finish(app)

    run_async(go())


def test_theme_picker_lists_only_workbench_themes(demo_project: Project) -> None:
    async def go() -> None:
        app = WorkbenchApp(demo_project)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            provider = WorkbenchThemes(app.screen)
            names = {name for name, _ in provider.commands}
            assert names == set(app.theme_specs) and {"dark", "light", "high-contrast"} <= names
            assert "textual-dark" not in names and "nord" not in names
        finish(app)

    run_async(go())


def test_new_runs_from_the_sample_project_go_to_the_users_project(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    from workbench.core.locations import data_dir

    home = init_project(tmp_path / "home" / "mine", name="mine")
    sample = init_project(data_dir() / "sample-project", name="sample")

    async def go() -> None:
        app = WorkbenchApp(home)
        async with app.run_test(size=SIZE) as pilot:
            await home_ready(pilot)
            app.set_project(sample)
            await pilot.pause(0.1)
            assert app.project.path == sample.path
            assert app.run_project.path == home.path
            run = make_run(sample, OLDEST)
            assert not app.save_notes(run, tags=["x"])  # the sample stays as shipped
        finish(app)

    run_async(go())
