"""The real ``workbench`` in a real terminal: tmux at 80×24, keys in, screen text out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tui.test_issue14 import LAST_LINE, _long_summary_run
from workbench.core.runs import Project

LONG_RUN = "20261121-100000-000-dddd"

pytestmark = [pytest.mark.slow, pytest.mark.tmux]


class Tmux:
    """One tmux server of our own (``-L``), so a user's sessions are never touched."""

    def __init__(self, name: str) -> None:
        self.socket = name
        self.session = name

    def __call__(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out; the screen was:\n{text}")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed; this test drives the real terminal through it")
    t = Tmux(f"workbench-test-{os.getpid()}")
    yield t
    t("kill-server", check=False)


def workbench_command() -> list[str]:
    script = Path(sys.executable).with_name("workbench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "workbench"]


def test_workbench_in_tmux(tmux: Tmux, demo_project: Project) -> None:
    _long_summary_run(demo_project)
    env_names = (
        "WORKBENCH_DATA_DIR",
        "WORKBENCH_CONFIG_DIR",
        "WORKBENCH_EXTRA_LABS",
        "PYTHONPATH",
        "HOME",
    )
    env = [f"{name}={os.environ[name]}" for name in env_names if name in os.environ]
    command = [*workbench_command(), "--project", str(demo_project.path)]
    args = ["new-session", "-d", "-x", "80", "-y", "24", "-s", tmux.session]
    for item in [*env, "TERM=xterm-256color", "COLORTERM=truecolor"]:
        args += ["-e", item]
    tmux(*args, " ".join(command))
    tmux("set-option", "-s", "escape-time", "0")
    text = tmux.wait_for(lambda s: "Project demo" in s and "20261121-093000-000-aaaa" in s)
    assert "n New run" in text  # the footer shows the keys
    lines = text.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)

    tmux.keys("?")
    tmux.wait_for(lambda s: "Keys on this screen" in s)
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "Keys on this screen" not in s and "Project demo" in s)

    tmux.keys("Down", "Down", "Down", "Enter")  # the oldest run
    tmux.wait_for(lambda s: "Run 20261121-093000-000-aaaa" in s and "Summary" in s)
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "Project demo" in s)

    # Issue 14: through the stepper, keyboard only, to the Conclusion's last line.
    tmux.keys("Up", "Up", "Up")  # the newest run: the one with the long conclusion
    tmux.wait_for(lambda s: f"▸ {LONG_RUN}" in s)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: f"Run {LONG_RUN}" in s)
    tmux.keys("s")  # its lab in the stepper
    tmux.wait_for(lambda s: "Fake lab for TUI tests" in s and "● 2. Compare the seeds" in s)
    tmux.keys("C-n", "C-n", "C-n")  # pages: step 1, step 2, Conclusion
    tmux.wait_for(lambda s: f"run {LONG_RUN} completed" in s and "• layer1" in s)
    assert LAST_LINE not in tmux.screen()
    tmux.keys("End")
    text = tmux.wait_for(lambda s: LAST_LINE in s)
    lines = text.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    tmux.keys("Escape")
    tmux.wait_for(lambda s: f"Run {LONG_RUN}" in s)
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "Project demo" in s)

    tmux.keys("q")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (
            subprocess.run(
                ["tmux", "-L", tmux.socket, "has-session", "-t", tmux.session], capture_output=True
            ).returncode
            != 0
        ):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"workbench did not quit on q; the screen was:\n{tmux.screen()}")
