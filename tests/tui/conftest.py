"""Fixtures for the TUI tests: fixed run folders, the fake lab, a clean environment."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from tests.conftest import COUNTING_LAB
from workbench.core.atomic import atomic_write_toml, read_toml
from workbench.core.runs import Project, Run, RunWriter, init_project

FAKE_LAB = "fake=tests.tui.fake_lab:LAB"
FIXED_TIME = dt.datetime(2026, 11, 21, 9, 30, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def _tui_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake lab is registered, NO_COLOR is off, and ~ is a temporary folder."""
    monkeypatch.setenv("WORKBENCH_EXTRA_LABS", f"{COUNTING_LAB},{FAKE_LAB}")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


def make_run(
    project: Project,
    run_id: str,
    *,
    lab: str = "fake",
    status: str = "completed",
    config: Mapping[str, Any] | None = None,
    seeds: int = 4,
    steps: int = 100,
    results: Mapping[str, Any] | None = None,
    minutes: int = 0,
    error: str | None = None,
) -> Run:
    """A run folder with fixed content and timestamps (for snapshots and assertions).

    Losses are exp(-step / tau) with tau = 20 + 10 * seed; the IR matrix is
    1 / (1 + |i - j|); the spectrum is k^-1.2.
    """
    path = project.runs_dir / run_id
    path.mkdir(parents=True)
    cfg = {"seeds": seeds, "steps": steps, "lr": 0.01, "tasks": ["first-bit"], "delay": 0.0}
    cfg.update(config or {})
    writer = RunWriter.create(
        path, run_id=run_id, lab=lab, config=cfg, device="cpu", seeds=(0, seeds)
    )
    try:
        records = [
            {
                "step": step,
                "seed": seed,
                "task": "first-bit",
                "loss": float(np.exp(-step / (20 + 10 * seed))),
            }
            for step in range(0, steps + 1, 10)
            for seed in range(seeds)
        ]
        writer.append_metrics(records)
        idx = np.arange(seeds)
        writer.save_array(
            "ir_seed_seed/first-bit",
            1.0 / (1.0 + np.abs(idx[:, None] - idx[None, :])),
            axes=("seed", "seed"),
            labels={"seed": [str(i) for i in range(seeds)]},
            description="information ratio between seeds",
        )
        writer.save_array("spectrum/hidden", np.arange(1, 33, dtype=float) ** -1.2, axes=("rank",))
        writer.set_results(
            dict(results)
            if results is not None
            else {"first-bit/ir/mean": 0.5625, "loss/final/mean": 0.0123}
        )
        writer.write_text("summary.md", "# Conclusion\n\nThe seeds agree.\n")
        for key in ("train", "analyse") if status == "completed" else ("train",):
            writer.mark_step_done(key)
        writer.write_progress("analyse", 1, 1, {})
    finally:
        writer.finish(status if status != "running" else "interrupted", error)
    # Fixed facts, so screens and snapshots do not depend on when or where tests run.
    doc = read_toml(path / "run.toml")
    doc["run"].update(
        created=FIXED_TIME + dt.timedelta(minutes=minutes),
        finished=FIXED_TIME + dt.timedelta(minutes=minutes + 1),
        pid=1,
        host="test-host",
        argv=["workbench", "run", lab],
        workbench_version="0.1.0",
        torch_version="2.x",
        python_version="3.x",
        numpy_version="2.x",
    )
    doc["run"].pop("pid_started", None)
    atomic_write_toml(path / "run.toml", doc)
    (path / "log.txt").write_text("09:30:00 INFO run started\n09:31:00 INFO run completed\n")
    return Run(path)


@pytest.fixture
def demo_project(tmp_path: Path) -> Project:
    """A project under ~ with three fixed runs: two completed, one failed."""
    project = init_project(tmp_path / "home" / "demo", name="demo")
    _fix_project_time(project)
    make_run(project, "20261121-093000-000-aaaa", seeds=4, minutes=0)
    make_run(
        project,
        "20261121-094000-000-bbbb",
        seeds=6,
        config={"lr": 0.1},
        results={"first-bit/ir/mean": 0.4321, "loss/final/mean": 0.0456},
        minutes=10,
    )
    make_run(
        project,
        "20261121-095000-000-cccc",
        status="failed",
        seeds=2,
        results={},
        minutes=20,
        error="RuntimeError: the analysis failed on purpose",
    )
    return project


def _fix_project_time(project: Project) -> None:
    doc = read_toml(project.path / "workbench.toml")
    doc["project"]["created"] = FIXED_TIME
    atomic_write_toml(project.path / "workbench.toml", doc)


def screen_text(app: Any) -> str:
    """The app's screen as plain text, as a terminal would show it."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(
            full=True, screen_stack=app._background_screens, simplify=True
        )
    )
    return console.export_text()


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until ``condition()`` holds (or fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.05)


async def wait_screen(pilot: Any, cls: type, timeout: float = 30.0) -> Any:
    """Wait until the app shows a screen of type ``cls``, composed and mounted."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, cls) and app.screen.is_mounted, timeout)
    await pilot.pause()
    await wait_until(pilot, lambda: bool(app.screen.children), timeout)
    await pilot.pause(0.05)
    return app.screen


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion (tests are plain functions)."""
    return asyncio.run(coro)


@pytest.fixture
def no_color(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """NO_COLOR set, as a user with a monochrome preference would have it."""
    monkeypatch.setenv("NO_COLOR", "1")
    yield
    os.environ.pop("NO_COLOR", None)
