"""Sweeps: definition and validation, the local pool, Ray and submitit, resume, Ctrl-C, reading.

The counting fixture lab is deterministic in its seeds, so "the same results seed for seed"
across engines is an exact comparison of each cell's results.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PYTHON, cli_env
from workbench.core.errors import ConfigError
from workbench.core.registry import load_lab
from workbench.core.runs import Project, Run
from workbench.core.sweep import create_sweep, expand_grid, open_sweep, parse_grid, reconcile
from workbench.core.sweep_engines import EngineOptions, run_sweep
from workbench.core.sweep_report import aggregate, grid_matrix, sweep_csv, sweep_rows

GRID = {"steps": [2, 3], "mode": ["sum", "max"]}


def _results(project: Project, sweep_id: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    sweep = open_sweep(project, sweep_id)
    out = {}
    for cell in sweep.cells:
        run = Run(project.runs_dir / cell.run)
        key = (*(cell.values[k] for k in sorted(cell.values)), cell.repeat)
        out[key] = {k: v for k, v in run.results.items()}
    return out


def _sweep(project: Project, engine: str = "local", **kw: Any):  # type: ignore[no-untyped-def]
    lab = load_lab("counting")
    return create_sweep(project, lab, base={"seeds": 2}, grid=GRID, engine=engine, **kw)


def test_grid_expansion_validates_every_cell_and_shifts_repeat_seeds() -> None:
    lab = load_lab("counting")
    cells = expand_grid(lab, {"seeds": 3, "seed": 10}, {"steps": [2, 4]}, repeat=2)
    assert [(c.values["steps"], c.repeat, c.config["seed"]) for c in cells] == [
        (2, 0, 10), (2, 1, 13), (4, 0, 10), (4, 1, 13),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match=r"'steps' = 0 .*sweep cell 1"):
        expand_grid(lab, {}, {"steps": [2, 0]}, repeat=1)
    with pytest.raises(ConfigError, match=r"grid\.steps"):
        parse_grid([("steps", 3)])


def test_a_bad_value_in_one_cell_runs_nothing(project: Project) -> None:
    proc = subprocess.run(
        [PYTHON, "-m", "workbench", "sweep", "counting", "--project", str(project.path),
         "--grid", "steps=[2,3,0]", "--grid", 'mode=["sum"]'],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "'steps' = 0" in proc.stderr and "sweep cell 2" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert project.runs() == []
    assert not (project.path / "sweeps").exists() or not list((project.path / "sweeps").iterdir())


def test_local_pool_runs_a_2x2_grid_into_ordinary_runs(project: Project) -> None:
    sweep = _sweep(project)
    run_sweep(sweep, EngineOptions(jobs=2, device="cpu"))
    assert sweep.counts()["completed"] == 4
    for cell in sweep.cells:
        run = Run(project.runs_dir / cell.run)
        assert run.status == "completed"
        assert run.info["sweep"] == sweep.id and run.info["sweep_cell"] == cell.index
        assert run.config["steps"] == cell.values["steps"]
        assert run.config["mode"] == cell.values["mode"] and run.config["seeds"] == 2
    again = open_sweep(project, sweep.id)  # what is on disk says the same
    assert [c.state for c in again.cells] == ["completed"] * 4


def test_engines_agree_seed_for_seed(project: Project, tmp_path: Path) -> None:
    from workbench.core.runs import init_project

    sweep = _sweep(project)
    run_sweep(sweep, EngineOptions(jobs=2, device="cpu"))
    local = _results(project, sweep.id)
    other = init_project(tmp_path / "other")
    again = _sweep(other)
    run_sweep(again, EngineOptions(jobs=1, device="cpu"))
    assert _results(other, again.id) == local


@pytest.mark.slow
def test_ray_engine_matches_local(project: Project, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    import ray

    from workbench.core.runs import init_project

    sweep = _sweep(project)
    run_sweep(sweep, EngineOptions(jobs=2, device="cpu"))
    other = init_project(tmp_path / "ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = _sweep(other, engine="ray")
        run_sweep(on_ray, EngineOptions(jobs=2, device="cpu"))
    finally:
        ray.shutdown()
    assert on_ray.counts()["completed"] == 4
    assert _results(other, on_ray.id) == _results(project, sweep.id)


@pytest.mark.slow
def test_submitit_local_executor_matches_local(project: Project, tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    from workbench.core.runs import init_project

    sweep = _sweep(project)
    run_sweep(sweep, EngineOptions(jobs=2, device="cpu"))
    other = init_project(tmp_path / "slurm")
    on_slurm = _sweep(other, engine="slurm")
    run_sweep(on_slurm, EngineOptions(jobs=2, device="cpu", slurm={"cluster": "local"}))
    assert on_slurm.counts()["completed"] == 4, [c.error for c in on_slurm.cells]
    assert _results(other, on_slurm.id) == _results(project, sweep.id)


def _start_cli_sweep(project: Project, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "workbench", "sweep", "counting", "--project", str(project.path),
         "--grid", "seed=[0,10,20,30]", "--set", "steps=4", "--set", "sleep=0.5",
         "--jobs", "1", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
        start_new_session=True,
    )  # fmt: skip


def _wait_for_completed(project: Project, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(r.status == "completed" for r in project.runs()) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} runs completed in {timeout} s")


@pytest.mark.slow
def test_killed_sweep_resumes_only_the_missing_cells(project: Project) -> None:
    proc = _start_cli_sweep(project)
    _wait_for_completed(project, 1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, at once
    proc.wait(timeout=30)
    sweep = reconcile(project, open_sweep(project, "latest"))
    done_before = {c.index: c.run for c in sweep.cells if c.state == "completed"}
    assert done_before and len(done_before) < 4
    resumed = subprocess.run(
        [PYTHON, "-m", "workbench", "sweep", "resume", sweep.id, "--project", str(project.path),
         "--quiet"],
        capture_output=True, text=True, env=cli_env(), timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    after = open_sweep(project, sweep.id)
    assert [c.state for c in after.cells] == ["completed"] * 4
    for index, run_id in done_before.items():  # completed cells were not run again
        assert after.cells[index].run == run_id
    runs_per_cell: dict[int, int] = {}
    for run in project.runs():
        runs_per_cell[run.info["sweep_cell"]] = runs_per_cell.get(run.info["sweep_cell"], 0) + 1
    assert all(runs_per_cell[i] == 1 for i in done_before)


@pytest.mark.slow
def test_ctrl_c_leaves_every_running_cell_interrupted_and_readable(project: Project) -> None:
    proc = _start_cli_sweep(project, "--jobs", "2")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(r.status == "running" for r in project.runs()):
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "resume" in err
    for run in project.runs():
        assert run.status in ("completed", "interrupted")
        run.metrics()  # readable
    sweep = open_sweep(project, "latest")
    assert {c.state for c in sweep.cells} <= {"completed", "interrupted", "pending"}
    assert any(c.state != "completed" for c in sweep.cells)


def test_two_sweeps_at_once_get_distinct_ids_and_runs(project: Project) -> None:
    made: list[Any] = []
    threads = [threading.Thread(target=lambda: made.append(_sweep(project))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({s.id for s in made}) == 4
    for s in made[:2]:
        run_sweep(s, EngineOptions(jobs=1, device="cpu"))
    ids = [c.run for s in made[:2] for c in s.cells]
    assert len(set(ids)) == 8


def test_reading_a_sweep_table_aggregates_and_csv(project: Project) -> None:
    lab = load_lab("counting")
    sweep = create_sweep(project, lab, base={"seeds": 2}, grid={"steps": [2, 3]}, repeat=3)
    run_sweep(sweep, EngineOptions(jobs=2, device="cpu"))
    header, rows = sweep_rows(project, sweep, ["total/mean"])
    assert header[:3] == ["steps", "repeat", "state"] and len(rows) == 6
    aggs = {a.values["steps"]: a for a in aggregate(project, sweep, "total/mean")}
    for steps, agg in aggs.items():
        xs = [r[-1] for r in rows if r[0] == steps]
        assert agg.n == 3 and agg.mean == pytest.approx(np.mean(xs))
        half = 4.302652729911275 * np.std(xs, ddof=1) / math.sqrt(3)  # t_{0.975, 2}
        assert agg.high - agg.mean == pytest.approx(half)
    text = sweep_csv(project, sweep, ["total/mean"])
    assert text.splitlines()[0] == "steps,repeat,state,run,headline,total/mean"
    assert len(text.splitlines()) == 7
    xs_, _, m = grid_matrix(list(aggs.values()), "steps", "steps")
    assert xs_ == [2, 3] and np.isfinite(np.diag(m)).all()


def test_export_of_a_sweep_holds_all_its_runs_and_imports_back(
    project: Project, tmp_path: Path
) -> None:
    from workbench.core.errors import ArchiveError
    from workbench.core.runs import init_project
    from workbench.core.sweep_archive import export_sweep, import_sweep, is_sweep_archive

    sweep = _sweep(project)
    run_sweep(sweep, EngineOptions(jobs=2, device="cpu"))
    archive = export_sweep(project, sweep, tmp_path / "s.tar.gz")
    assert is_sweep_archive(archive)
    with pytest.raises(ArchiveError, match="already exists"):
        export_sweep(project, sweep, archive)
    other = init_project(tmp_path / "elsewhere")
    copy = import_sweep(other, archive)
    assert copy.id == sweep.id and [c.state for c in copy.cells] == ["completed"] * 4
    assert _results(other, copy.id) == _results(project, sweep.id)
    for cell in copy.cells:
        assert Run(other.runs_dir / cell.run).info["sweep"] == copy.id
    with pytest.raises(ArchiveError, match="already in this project"):
        import_sweep(other, archive)
    assert len(other.runs()) == 4  # the refused import left nothing behind


def test_sweep_archive_with_a_member_outside_its_layout_is_refused(
    project: Project, tmp_path: Path
) -> None:
    import io
    import tarfile

    from workbench.core.errors import ArchiveError
    from workbench.core.sweep_archive import import_sweep

    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for name, data in (("SWEEP.toml", b'[sweep]\nid = "sw-1"\n'), ("../evil.txt", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveError, match="unexpected member"):
        import_sweep(project, bad)
    assert not (tmp_path / "evil.txt").exists() and project.runs() == []


def test_a_bad_engine_option_makes_no_sweep(project: Project) -> None:
    proc = subprocess.run(
        [PYTHON, "-m", "workbench", "sweep", "counting", "--project", str(project.path),
         "--grid", "steps=[2]", "--jobs", "0"],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "'jobs' = 0" in proc.stderr
    assert not (project.path / "sweeps").exists() and project.runs() == []
