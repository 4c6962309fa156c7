"""The thread policy: parsing, precedence, the automatic choice, and that it changes no result."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from workbench.core import threads
from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    before = torch.get_num_threads()
    threads.set_threads(None)
    yield
    threads.set_threads(None)
    torch.set_num_threads(before)


def test_parse_accepts_auto_and_positive_integers_and_names_the_key() -> None:
    assert threads.parse_threads("auto") is None
    assert threads.parse_threads(" 3 ") == 3
    for bad in ("0", "-2", "many", "1.5"):
        with pytest.raises(ConfigError) as info:
            threads.parse_threads(bad, "--threads")
        assert info.value.key == "threads"
        assert "auto or an integer >= 1" in str(info.value) and "--threads" in str(info.value)


def test_cli_flag_beats_the_environment_which_beats_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert threads.requested_threads() == (None, "auto")
    assert threads.thread_policy() == "auto"
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert threads.requested_threads() == (3, threads.THREADS_ENV)
    threads.set_threads(1)
    assert threads.requested_threads() == (1, "--threads")
    assert threads.thread_policy() == 1
    assert threads.choose_threads(1e12).threads == 1
    monkeypatch.setenv(threads.THREADS_ENV, "zero")
    threads.set_threads(None)
    with pytest.raises(ConfigError):
        threads.requested_threads()


def test_auto_takes_one_thread_for_small_work_and_leaves_busy_cores_alone() -> None:
    small, large = threads.SMALL_WORK / 2, threads.SMALL_WORK * 10
    assert threads.auto_threads(small, cores=16, busy=0) == 1
    assert threads.auto_threads(large, cores=16, busy=0) == 16
    assert threads.auto_threads(large, cores=2, busy=1) == 1
    assert threads.auto_threads(large, cores=8, busy=3) == 5
    assert threads.auto_threads(large, cores=2, busy=7) == 1  # never zero


def test_a_cpu_burning_competitor_is_seen_as_busy() -> None:
    if not Path("/proc/loadavg").exists():
        pytest.skip("needs /proc/loadavg")
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        # A busy loop is always runnable, whether or not it holds a core right now.
        assert max(threads.busy_cores() for _ in range(5)) >= 1
    finally:
        proc.kill()
        proc.wait()


def test_scope_sets_the_choice_and_restores_torch_threads() -> None:
    torch.set_num_threads(2)
    threads.set_threads(1)
    with threads.thread_scope(1e12) as scope:
        assert torch.get_num_threads() == 1
        assert scope.choice.source == "--threads"
    assert torch.get_num_threads() == 2


def test_the_thread_count_changes_no_result_beyond_float_reduction_order() -> None:
    # Tolerance: rtol 1e-5, atol 1e-6 after 150 Adam steps, what different splits
    # of a float32 sum could amplify to; in practice the rows come out equal.
    codes = torch.arange(64)
    x = ((codes.unsqueeze(1) >> torch.arange(5, -1, -1)) & 1).float()
    y = x[:, :1] * x[:, 1:2]
    config = TrainConfig(widths=(32, 32), steps=150, loss_threshold=1e-3, log_every=30)
    results = {}
    for n in (1, 2):
        threads.set_threads(n)
        model = init_ensemble(config, range(120), 6, 1)
        results[n] = (model, train_ensemble(model, x, y, config))
    (m1, r1), (m2, r2) = results[1], results[2]
    torch.testing.assert_close(m2.params, m1.params, rtol=1e-5, atol=1e-6)
    assert (r1.converged == r2.converged).all()
    assert (r1.steps_trained == r2.steps_trained).all()


def _wb(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from tests.conftest import PYTHON, cli_env

    return subprocess.run(
        [PYTHON, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        env={**cli_env(), **env},
        timeout=120,
    )


def test_cli_records_the_policy_and_rejects_bad_values_with_exit_2(tmp_path: Path) -> None:
    from workbench.core.runs import Project

    proj = str(tmp_path / "p")
    common = ("--project", proj, "--set", "seeds=2", "--device", "cpu")
    ok = _wb("run", "counting", *common, "--threads", "1", env={})
    assert ok.returncode == 0, ok.stderr
    bad = _wb("run", "counting", *common, "--threads", "0", env={})
    assert bad.returncode == 2 and "threads" in bad.stderr and "Traceback" not in bad.stderr
    env_bad = _wb("run", "counting", *common, env={threads.THREADS_ENV: "lots"})
    assert env_bad.returncode == 2 and threads.THREADS_ENV in env_bad.stderr
    auto = _wb("run", "counting", *common, env={})
    assert auto.returncode == 0, auto.stderr
    runs = Project(Path(proj)).runs()
    assert [r.info["threads"] for r in runs] == [1, "auto"]  # no folder for the bad ones


def test_a_lab_step_gets_the_policy_for_torch_and_numpy_blas() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = {p["prefix"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}
    torch.set_num_threads(2)
    threads.set_threads(1)
    choice = threads.apply_step_threads()
    assert choice.threads == 1 and torch.get_num_threads() == 1
    blas = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    assert all(p["num_threads"] == 1 for p in blas)
    threadpoolctl.threadpool_limits(limits=before)  # leave numpy as it was for other tests
