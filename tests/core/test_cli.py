"""The headless CLI end to end, in real subprocesses and a temporary project."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PYTHON, cli_env
from workbench.core.runs import Project, Run


def wb(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [PYTHON, "-m", "workbench", *args],
        capture_output=True, text=True, env=cli_env(), timeout=timeout,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_works_on_every_command() -> None:
    for cmd in ([], ["init"], ["labs"], ["config"], ["run"], ["runs"], ["show"], ["rerun"],
                ["export"], ["import"]):  # fmt: skip
        proc = wb(*cmd, "--help", check=True)
        assert "usage: workbench" in proc.stdout


def test_labs_lists_builtin_and_plugin_labs() -> None:
    out = wb("labs", check=True).stdout
    assert "counting" in out
    out = wb("labs", "counting", check=True).stdout
    assert "Summarize" in out and "fail_at" in out


def test_run_show_runs_rerun_export_import(tmp_path: Path) -> None:
    proj = str(tmp_path / "p")
    proc = wb("run", "counting", "--project", proj, "--set", "seeds=2", "--set", "widths=[3,3]",
              "--device", "cpu", check=True)  # fmt: skip
    project = Project(Path(proj))
    (run,) = project.runs()
    assert run.id in proc.stdout and str(run.path) in proc.stdout
    assert run.config["widths"] == [3, 3]
    assert run.info["device"] == "cpu"

    listing = wb("runs", "--project", proj, check=True).stdout
    assert run.id in listing and "completed" in listing

    shown = wb("show", run.id[:15], "--project", proj, check=True).stdout
    assert "total" in shown and "mean" in shown and "Mean total" in shown and "noise" in shown

    wb("rerun", "latest", "--project", proj, check=True)
    first, second = project.runs()
    assert second.results == first.results

    archive = tmp_path / "shared.tar.gz"
    wb("export", first.id, "--project", proj, "-o", str(archive), check=True)
    other = str(tmp_path / "other")
    out = wb("import", str(archive), "--project", other, check=True).stdout
    assert first.id in out
    assert Project(Path(other)).run(first.id).results == first.results


def test_config_command_prints_a_reusable_file(tmp_path: Path) -> None:
    text = wb("config", "counting", "--set", "steps=7", check=True).stdout
    file = tmp_path / "c.toml"
    file.write_text(text)
    proj = str(tmp_path / "p")
    wb("run", "counting", "--project", proj, "--config", str(file), "--quiet", check=True)
    assert Project(Path(proj)).run("latest").config["steps"] == 7


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "counting", "--set", "steps=0"], "'steps' = 0 is not allowed"),
        (["run", "counting", "--set", "bogus=1"], "unknown key"),
        (["run", "counting", "--set", "widths=[1,"], "'widths'"),
        (["run", "counting", "--set", "mode=mean"], "one of sum, max"),
        (["run", "nosuchlab"], "no lab named 'nosuchlab'"),
        (["run", "counting", "--device", "tpu"], "device 'tpu' is not allowed"),
        # Issue 14: reading commands never create the project they are pointed at.
        (["show", "nope"], "is not a workbench project"),
        (["import", "/nonexistent.tar.gz"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path: Path, args: list[str], fragment: str) -> None:
    proc = wb(*args, "--project", str(tmp_path / "p"))
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not list((tmp_path / "p" / "runs").glob("*"))  # bad input makes no run


def test_malformed_config_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3\n")
    proc = wb("run", "counting", "--config", str(bad), "--project", str(tmp_path / "p"))
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr and str(bad) in proc.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("steps = -3\n")
    proc = wb("run", "counting", "--config", str(wrong), "--project", str(tmp_path / "p"))
    assert proc.returncode == 2 and "'steps' = -3" in proc.stderr and str(wrong) in proc.stderr


def test_failing_lab_exits_1_and_points_at_the_log(tmp_path: Path) -> None:
    proc = wb("run", "counting", "--set", "fail_at=1", "--project", str(tmp_path / "p"))
    assert proc.returncode == 1
    assert "planned failure" in proc.stderr and "log.txt" in proc.stderr
    assert "Traceback" not in proc.stderr


def _start_long_run(project_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "workbench", "run", "counting", "--project", str(project_dir),
         "--set", "steps=2000", "--set", "sleep=0.005", "--set", "seeds=50", "--quiet"],
        env=cli_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_for_metrics(project: Path, n_lines: int, proc: subprocess.Popen[str]) -> Run:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = list((project / "runs").glob("2*"))
        # Records, not lines: per-seed records are stored as column chunks.
        if runs and len(Run(runs[0]).metric_records()[0]) >= n_lines:
            return Run(runs[0])
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the run did not start logging")


@pytest.mark.slow
@pytest.mark.parametrize("lines", [1, 400, 2500])
def test_kill_9_mid_run_leaves_a_readable_interrupted_run(tmp_path: Path, lines: int) -> None:
    project = tmp_path / "p"
    proc = _start_long_run(project)
    run = _wait_for_metrics(project, lines, proc)
    assert run.status == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert run.status == "interrupted"  # every reader sees the dead process
    assert run.config["steps"] == 2000
    metrics = run.metrics()
    assert len(metrics["loss"]) >= lines
    assert set(metrics) >= {"step", "seed", "loss"}
    listing = wb("runs", "--project", str(project), check=True).stdout
    assert "interrupted" in listing
    assert wb("show", run.id, "--project", str(project)).returncode == 0
    # Nothing half-written is left that a reader would trip over.
    assert not [p for p in run.path.rglob("*.tmp") if not p.name.startswith(".")]


@pytest.mark.slow
def test_sigint_cancels_cleanly(tmp_path: Path) -> None:
    project = tmp_path / "p"
    proc = _start_long_run(project)
    run = _wait_for_metrics(project, 100, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert run.info["status"] == "interrupted" and run.info["finished"]
