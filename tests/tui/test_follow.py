"""Following a run folder: incremental reads, status, rates and ETA, unreadable folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.core.runs import Project, Run, RunWriter
from workbench.tui.follow import ProgressRate, RunFollower


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def writer(project: Project) -> RunWriter:
    run_id, path = project.new_run_dir()
    w = RunWriter.create(path, run_id=run_id, lab="fake", config={}, device="cpu", seeds=(0, 2))
    yield w
    if not w._metrics_fh.closed:
        w.finish("completed")


def loss_records(step: int) -> list[dict]:  # type: ignore[type-arg]
    return [{"step": step, "seed": s, "task": "t", "loss": 1.0 / (1 + step + s)} for s in range(2)]


def test_polls_read_only_what_was_appended(writer: RunWriter) -> None:
    follower = RunFollower(Run(writer.path), live_metrics=("live/ir",))
    first = follower.poll()
    assert first.status == "running" and first.curves is None and first.error is None
    writer.append_metrics(loss_records(0) + loss_records(10))
    snap = follower.poll()
    assert snap.curves is not None and snap.n_records == 4
    assert snap.curves.steps.tolist() == [0, 10]
    assert follower.poll().curves is None  # nothing new: nothing redrawn
    writer.append_metrics([*loss_records(20), {"step": 20, "task": "t", "live/ir": 0.5}])
    snap = follower.poll()
    assert snap.curves is not None and snap.curves.steps.tolist() == [0, 10, 20]
    np.testing.assert_allclose(snap.curves.values[1], [1 / 2, 1 / 12, 1 / 22])
    assert snap.live["live/ir"].values.tolist() == [[0.5]]


def test_a_partial_last_line_waits_for_its_end(writer: RunWriter) -> None:
    follower = RunFollower(Run(writer.path))
    metrics = writer.path / "metrics.jsonl"
    with open(metrics, "a", encoding="utf-8") as fh:
        fh.write('{"step": 0, "seed": 0, "loss": 1.0}\n{"step": 10, "se')
    assert follower.poll().n_records == 1
    with open(metrics, "a", encoding="utf-8") as fh:
        fh.write('ed": 0, "loss": 0.5}\n')
    snap = follower.poll()
    assert snap.n_records == 2 and snap.curves is not None
    assert snap.curves.values.tolist() == [[1.0, 0.5]]


def test_progress_status_and_finish(writer: RunWriter) -> None:
    clock = FakeClock()
    follower = RunFollower(Run(writer.path), clock=clock)
    writer.write_progress("train", 100, 1000, {"converged": 3, "diverged": 1})
    snap = follower.poll()
    assert (snap.step, snap.done, snap.total) == ("train", 100, 1000)
    assert snap.info == {"converged": 3, "diverged": 1}
    clock.now = 2.0
    writer.write_progress("train", 300, 1000, {})
    snap = follower.poll()
    assert snap.rate == pytest.approx(100.0)  # (300 - 100) units in 2 s
    assert snap.eta_seconds == pytest.approx(7.0)  # 700 units left at 100/s
    writer.mark_step_done("train")
    writer.finish("completed")
    snap = follower.poll()
    assert snap.status == "completed" and snap.finished and snap.steps_done == ("train",)
    assert snap.eta_seconds is None


def test_a_dead_writer_reads_as_interrupted(project: Project) -> None:
    run_id, path = project.new_run_dir()
    w = RunWriter.create(path, run_id=run_id, lab="fake", config={}, device="cpu", seeds=(0, 1))
    w.close()
    # Pretend the process died: a pid that cannot exist.
    text = (path / "run.toml").read_text().replace(f"pid = {w.info['pid']}", "pid = 999999999")
    (path / "run.toml").write_text(text)
    assert RunFollower(Run(path)).poll().status == "interrupted"


def test_live_metric_arrays_are_reread_only_when_they_change(writer: RunWriter) -> None:
    follower = RunFollower(Run(writer.path), live_metrics=("live/ir_seed_seed",))
    writer.save_array("live/ir_seed_seed", np.eye(2))
    snap = follower.poll()
    np.testing.assert_array_equal(snap.live_arrays["live/ir_seed_seed"], np.eye(2))
    assert follower.poll().live_arrays == {}


def test_an_unreadable_folder_is_an_error_not_an_exception(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "run.toml").write_text("this is = = not toml")
    snap = RunFollower(Run(folder)).poll()
    assert snap.error is not None and "cannot be read" in snap.error
    missing = RunFollower(Run(tmp_path / "gone")).poll()
    assert missing.error is not None and "no run.toml" in missing.error


def test_progress_rate_resets_on_a_new_step() -> None:
    rate = ProgressRate(window=10)
    assert rate.update(0.0, "a", 0, 100) == (None, None)
    assert rate.update(1.0, "a", 10, 100) == pytest.approx((10.0, 9.0))
    assert rate.update(2.0, "b", 0, 50) == (None, None)
    # A stalled step: no new progress, the rate falls as time passes.
    rate.update(3.0, "b", 5, 50)
    r1, _ = rate.update(5.0, "b", 5, 50)
    assert r1 == pytest.approx(5 / 3)
