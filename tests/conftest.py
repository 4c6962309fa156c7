"""Shared fixtures: every test gets its own data/config dirs, so nothing touches ~/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COUNTING_LAB = "counting=tests.fixtures.counting_lab:LAB"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(base / "config"))
    monkeypatch.delenv("WORKBENCH_PROJECT", raising=False)
    monkeypatch.setenv("WORKBENCH_EXTRA_LABS", COUNTING_LAB)
    # Subprocesses must import the fixture lab from the repo.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    from workbench.core.runs import init_project

    return init_project(tmp_path / "proj", name="test-project")


def cli_env() -> dict[str, str]:
    """Environment for a `python -m workbench` subprocess."""
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    env["COLUMNS"] = "200"
    return env


PYTHON = sys.executable
