"""The storage contract: projects, run folders, atomic writes, liveness, the notebook API."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import workbench
from tests.fixtures.counting_lab import LAB
from workbench.core.atomic import read_toml
from workbench.core.errors import ProjectError, RunFolderError, RunNotFoundError
from workbench.core.runner import RunFailedError, rerun, run_lab
from workbench.core.runs import (
    Project,
    Run,
    find_project,
    init_project,
    new_run_id,
    open_project,
)


def test_project_file_has_the_project_table(project: Project) -> None:
    doc = read_toml(project.path / "workbench.toml")
    assert set(doc["project"]) == {"name", "description", "created", "device"}
    assert doc["project"]["name"] == "test-project"
    assert (project.path / "runs").is_dir()


def test_default_project_is_created_on_first_use(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    project = open_project()
    assert project.path == (Path(os.environ["WORKBENCH_DATA_DIR"]) / "default-project").resolve()
    assert open_project().path == project.path


def test_project_is_found_upwards_like_git(project: Project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    deep = project.path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_project() == project.path
    assert open_project().path == project.path


def test_non_empty_folder_is_not_silently_made_a_project(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="not empty"):
        init_project(tmp_path)


def test_malformed_project_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "workbench.toml").write_text("[project\n")
    with pytest.raises(ProjectError, match="cannot be read"):
        Project(tmp_path)


def test_run_ids_sort_by_time_and_never_collide(project: Project) -> None:
    import datetime as dt

    early = new_run_id(dt.datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=dt.timezone.utc))
    late = new_run_id(dt.datetime(2026, 1, 1, 0, 0, 0, 2000, tzinfo=dt.timezone.utc))
    assert early < late
    ids: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        for _ in range(50):
            run_id, _ = project.new_run_dir()
            with lock:
                ids.append(run_id)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 200


def test_completed_run_folder_holds_everything(project: Project) -> None:
    config = LAB.make_config({"seeds": 4, "steps": 6})
    run = run_lab(LAB, config, project, device="cpu")
    doc = read_toml(run.path / "run.toml")
    info = doc["run"]
    assert info["status"] == "completed" and run.status == "completed"
    for key in ("id", "lab", "created", "finished", "workbench_version", "python_version",
                "torch_version", "device", "host", "seeds"):  # fmt: skip
        assert key in info, key
    assert info["seeds"] == {"first": 0, "count": 4}
    assert info["steps_done"] == ["count", "summarize"]
    assert doc["config"]["widths"] == [4, 4]  # every default written out
    assert set(doc["results"]) == {"total/mean", "total/max"}

    metrics = run.metrics()
    assert len(metrics["loss"]) == 4 * 6  # one record per logged step per seed
    assert metrics["step"].dtype == np.int64 and metrics["loss"].dtype == np.float64
    assert sorted(set(metrics["seed"].tolist())) == [0, 1, 2, 3]
    only_seed_2 = run.metrics(seed=2)
    assert len(only_seed_2["loss"]) == 6

    assert run.array_names() == ["noise", "pairs/outer"]
    noise = run.array("noise")
    assert noise.shape == (4, 6)
    assert run.array_meta("noise")["axes"] == ["seed", "step"]
    assert run.checkpoint("final")["noise"].shape == (4, 6)
    assert "Mean total" in run.text("summary.md")
    assert "completed" in run.log_text()
    # The results agree with the arrays they summarise.
    assert run.results["total/mean"] == pytest.approx(float(noise.sum(axis=1).mean()))


def test_rerun_gives_the_same_results(project: Project) -> None:
    first = run_lab(LAB, LAB.make_config({"seeds": 3, "seed": 5}), project, device="cpu")
    second = rerun(project, first)
    assert second.id != first.id
    assert second.info["rerun_of"] == first.id
    assert second.results == first.results
    np.testing.assert_array_equal(second.array("noise"), first.array("noise"))


def test_failed_run_keeps_its_folder(project: Project) -> None:
    with pytest.raises(RunFailedError, match="planned failure"):
        run_lab(LAB, LAB.make_config({"fail_at": 2}), project, device="cpu")
    (run,) = project.runs()
    assert run.status == "failed"
    assert "planned failure" in run.info["error"]
    assert "Traceback" in run.log_text()
    assert len(run.metrics()["loss"]) == 2 * 3  # what was logged before the failure survives


def test_cancel_leaves_an_interrupted_readable_run(project: Project) -> None:
    cancel = threading.Event()
    cancel.set()
    run = run_lab(LAB, LAB.make_config({}), project, device="cpu", cancel=cancel)
    assert run.status == "interrupted"
    assert run.info["finished"]


def test_running_run_with_a_dead_process_reads_as_interrupted(project: Project) -> None:
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    assert Run(writer.path).status == "running"  # this process is alive
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    writer.update_info(pid=int(proc.stdout))
    assert Run(writer.path).status == "interrupted"
    writer.close()


def test_run_on_another_host_is_judged_by_its_heartbeat(project: Project) -> None:
    """A project on a shared file system: we cannot see the other machine's processes."""
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    writer.update_info(host="another-machine")
    writer.heartbeat()
    assert Run(writer.path).status == "running"
    stale = time.time() - 3600
    os.utime(writer.path / "heartbeat", (stale, stale))
    assert Run(writer.path).status == "interrupted"
    writer.close()


def test_pid_reuse_is_detected_by_start_time(project: Project) -> None:
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    if "pid_started" not in writer.info:
        pytest.skip("no /proc start times on this platform")
    writer.update_info(pid_started=writer.info["pid_started"] + 1)
    assert Run(writer.path).status == "interrupted"
    writer.close()


def test_partial_metrics_line_is_ignored_then_read_when_complete(project: Project) -> None:
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    writer.append_metrics([{"step": 0, "seed": 0, "loss": 1.0}])
    with open(writer.path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 1, "seed": 0, "lo')
    records, offset = Run(writer.path).metric_records()
    assert [r["step"] for r in records] == [0]
    with open(writer.path / "metrics.jsonl", "a") as fh:
        fh.write('ss": 0.5}\n')
    more, _ = Run(writer.path).metric_records(offset)
    assert more == [{"step": 1, "seed": 0, "loss": 0.5}]
    writer.close()


def test_non_finite_metrics_come_back_as_nan(project: Project) -> None:
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 2))
    writer.append_metrics([{"step": 0, "seed": 0, "loss": float("nan")},
                           {"step": 0, "seed": 1, "loss": float("inf")}])  # fmt: skip
    loss = Run(writer.path).metrics()["loss"]
    assert np.isnan(loss).all()
    writer.close()


def test_run_lookup_by_prefix_and_latest(project: Project) -> None:
    a = run_lab(LAB, LAB.make_config({}), project, device="cpu")
    b = run_lab(LAB, LAB.make_config({}), project, device="cpu")
    assert project.run("latest").id == b.id
    assert project.run(a.id).id == a.id
    assert project.run(b.id[:-2]).id == b.id or b.id[:-2] == a.id[:-2]
    with pytest.raises(RunNotFoundError, match="no run"):
        project.run("19990101")


def test_unreadable_run_folder_is_a_clear_error(project: Project) -> None:
    run = run_lab(LAB, LAB.make_config({}), project, device="cpu")
    (run.path / "run.toml").write_text("[run\n")
    with pytest.raises(RunFolderError, match="cannot be read"):
        _ = run.status


def test_arrays_refuse_pickles_and_escaping_names(project: Project) -> None:
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    with pytest.raises(TypeError, match="object dtype"):
        writer.save_array("bad", np.array([{"a": 1}], dtype=object))
    for name in ("../escape", "/abs", "a/../../b", ""):
        with pytest.raises(ValueError, match="invalid name"):
            writer.save_array(name, np.zeros(2))
    # A pickled .npy planted in the folder is refused on load.
    (writer.path / "arrays").mkdir(exist_ok=True)
    np.save(writer.path / "arrays" / "planted.npy", np.array([{"x": 1}], dtype=object),
            allow_pickle=True)  # fmt: skip
    with pytest.raises(RunFolderError, match="cannot be read"):
        writer.array("planted")
    writer.close()


def test_notebook_api(project: Project) -> None:
    run_lab(LAB, LAB.make_config({"seeds": 2}), project, device="cpu")
    nb = workbench.open_project(str(project.path))
    (run,) = nb.runs()
    assert run.config["seeds"] == 2
    assert isinstance(run.metrics()["loss"], np.ndarray)
    assert run.results["total/mean"] > 0


def test_seed_range_of_a_multi_ensemble_config_is_recorded(project: Project) -> None:
    from workbench.core.lab import seeds_of
    from workbench_labs.toy_tasks import LAB as TOY

    config = TOY.make_config({"seeds": 7, "seed": 3, "tasks": ["first-bit", "parity", "majority"]})
    assert seeds_of(config) == (3, 21)
    assert seeds_of(LAB.make_config({"seeds": 4, "seed": 2})) == (2, 4)


def test_arrays_saved_in_a_batch_write_the_index_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.core import runs as runs_module

    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    writes: list[dict[str, object]] = []
    real = runs_module.atomic_write_toml

    def counting(path: Path, data: dict[str, object]) -> None:
        if path.name == "index.toml":
            writes.append(dict(data))
        real(path, data)

    monkeypatch.setattr(runs_module, "atomic_write_toml", counting)
    monkeypatch.setattr(type(writer), "index_interval", 3600.0)
    writer.save_array("alone", np.zeros(2), axes=("x",))
    assert len(writes) == 1  # outside a batch: written at once, as before
    with writer.batch_arrays():
        for i in range(30):
            writer.save_array(f"many/a{i}", np.full(3, i), axes=("unit",))
            # Each array is readable at once; only its metadata waits for the block's end.
            assert Run(writer.path).array(f"many/a{i}").tolist() == [i] * 3
        assert len(writes) == 1
    assert len(writes) == 2 and len(writes[-1]) == 31
    back = Run(writer.path)
    assert back.array_meta("many/a29")["axes"] == ["unit"]
    assert back.array_meta("alone")["shape"] == [2]
    writer.close()


def test_the_runner_writes_the_array_index_once_per_step(project: Project) -> None:
    run = run_lab(LAB, LAB.make_config({}), project, device="cpu")
    assert all(run.array_meta(name) for name in run.array_names())
