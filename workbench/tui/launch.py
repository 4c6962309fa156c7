"""Starting and cancelling runs as separate processes.

The TUI never trains in its own process: training in the UI process would
compete with the event loop and die with it. To start a run it writes the config
to a temporary TOML file and launches::

    python -m workbench run LAB --project DIR --config FILE --device DEV --quiet

in a new session (so closing the terminal or the TUI does not stop it). The new
run is the run folder whose ``[run].pid`` is the child's pid; from then on the
TUI follows the folder like any other run. Cancelling sends SIGINT to that pid,
which the CLI turns into a clean ``interrupted`` status.

No call here blocks on the child: :meth:`Launch.poll` and :func:`find_launched_run`
only look at what is already there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import tomli_w

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Project, Run, effective_status

__all__ = ["Launch", "LaunchError", "cancel_run", "find_launched_run", "start_run"]

#: How long a launched process may run without creating its run folder before the
#: TUI says so (seconds): importing torch and a lab can take a while on a cold disk.
FOLDER_TIMEOUT = 120.0


class LaunchError(WorkbenchError):
    """A run could not be started or cancelled."""


@dataclass
class Launch:
    """A run process this TUI started.

    Attributes:
        process: The child process.
        lab: The lab's name.
        config_file: The temporary config file (removed once the run folder exists).
        stderr_file: Where the child's error output goes.
        started: ``time.monotonic()`` at launch.
        project: The project the run goes into.
        run: The run folder, once found.
    """

    process: subprocess.Popen[bytes]
    lab: str
    config_file: Path
    stderr_file: Path
    started: float
    project: Project
    run: Run | None = None
    _stderr: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """The child's process id (also ``[run].pid`` of its run folder)."""
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code if the child has ended (reaping it), else ``None``."""
        return self.process.poll()

    def error_text(self) -> str:
        """What the child printed to stderr (its error message when it failed early)."""
        try:
            text = self.stderr_file.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        return text[-2000:]

    def cleanup(self) -> None:
        """Remove the temporary files (the child has read its config by now)."""
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
        for path in (self.config_file, self.stderr_file):
            with contextlib.suppress(OSError):
                path.unlink()


def start_run(
    project: Project,
    lab: str,
    config: Mapping[str, Any],
    *,
    device: str = "auto",
    python: str | None = None,
    preset: str | None = None,
) -> Launch:
    """Start a run of ``lab`` with ``config`` in a new process; return at once.

    Args:
        project: The project the run goes into.
        lab: The lab's registry name.
        config: Plain config values (``workbench.core.config.config_to_dict``).
        device: ``auto``, ``cpu`` or ``cuda``.
        python: Interpreter to use (default: this one).
        preset: The lab preset the config came from, recorded in ``[run].preset``
            (``config`` is complete either way, so it decides every value).

    Raises:
        LaunchError: if the process cannot be started.
    """
    fd, name = tempfile.mkstemp(prefix="workbench-config-", suffix=".toml")
    config_file = Path(name)
    with os.fdopen(fd, "wb") as fh:
        fh.write(tomli_w.dumps({"config": dict(config)}).encode("utf-8"))
    stderr_fd, stderr_name = tempfile.mkstemp(prefix="workbench-run-", suffix=".err")
    stderr = os.fdopen(stderr_fd, "wb")
    argv = [
        python or sys.executable,
        "-m",
        "workbench",
        "run",
        lab,
        "--project",
        str(project.path),
        "--config",
        str(config_file),
        "--device",
        device,
        "--quiet",
    ]
    if preset:
        argv += ["--preset", preset]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            cwd=str(project.path),
        )
    except OSError as err:
        stderr.close()
        with contextlib.suppress(OSError):
            config_file.unlink()
        raise LaunchError(f"could not start `{' '.join(argv[:5])} ...`: {err}") from None
    return Launch(
        process, lab, config_file, Path(stderr_name), time.monotonic(), project, _stderr=stderr
    )


def find_launched_run(project: Project, launch: Launch) -> Run | None:
    """The run folder of ``launch`` (``[run].pid`` equals the child's pid), if it exists yet.

    Only the newest few folders are read: the run was created after the launch.
    """
    if launch.run is not None:
        return launch.run
    for run in reversed(project.runs()[-20:]):
        try:
            info = run.info
        except WorkbenchError:
            continue  # a folder being created right now
        if info.get("pid") == launch.pid and info.get("host") == socket.gethostname():
            launch.run = run
            return run
    return None


def cancel_run(run: Run) -> None:
    """Ask a running run to stop; it ends ``interrupted`` and stays readable.

    Raises:
        LaunchError: if the run is not running, or runs on another machine.
    """
    info = run.info
    status = effective_status(info, run.path)
    if status != "running":
        raise LaunchError(f"run {run.id} is {status}, not running; there is nothing to cancel")
    if info.get("host") != socket.gethostname():
        raise LaunchError(
            f"run {run.id} runs on {info.get('host')!r}, not on this machine; cancel it there"
        )
    pid = info.get("pid")
    if not isinstance(pid, int):
        raise LaunchError(f"run {run.id} has no process id in run.toml")
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        raise LaunchError(f"run {run.id}: its process {pid} has already ended") from None
    except PermissionError:
        raise LaunchError(
            f"run {run.id}: process {pid} belongs to another user; it cannot be cancelled from here"
        ) from None
