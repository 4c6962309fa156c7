"""Running a lab into a run folder, and re-running a run from its ``[config]``.

The runner owns the run's life cycle: it creates the folder (status
``running``), runs the steps in order, records each finished step, and sets the
final status: ``completed``; ``interrupted`` when cancelled (Ctrl-C, SIGTERM,
the TUI's cancel); ``failed`` with the error message when a step raises (the
traceback goes to the run's ``log.txt``, never to the user's terminal).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from workbench.core.config import config_to_dict
from workbench.core.device import resolve_device
from workbench.core.errors import WorkbenchError
from workbench.core.lab import (
    Cancelled,
    Lab,
    RunContext,
    RunEvent,
    StepFinished,
    StepStarted,
    seeds_of,
)
from workbench.core.registry import load_lab
from workbench.core.runs import Project, Run, RunWriter
from workbench.core.threads import apply_step_threads, thread_policy

__all__ = ["RunFailedError", "rerun", "run_lab"]

log = logging.getLogger(__name__)


class RunFailedError(WorkbenchError):
    """A lab step raised; the run folder is kept with status ``failed``."""

    def __init__(self, run: Run, message: str) -> None:
        self.run = run
        super().__init__(message)


def run_lab(
    lab: Lab[Any],
    config: Any,
    project: Project,
    *,
    device: str = "auto",
    on_event: Callable[[RunEvent], None] | None = None,
    cancel: threading.Event | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Run:
    """Run every step of ``lab`` with ``config`` into a new run folder of ``project``.

    Args:
        lab: The lab to run.
        config: A config built by ``lab.make_config``.
        project: Where the run folder goes.
        device: ``auto``, ``cpu`` or ``cuda``.
        on_event: Receives step and progress events (the CLI's progress bar).
        cancel: Set it to stop the run at the next progress report; the run ends
            ``interrupted`` and stays readable.
        extra: Additional ``[run]`` fields (e.g. ``rerun_of``).

    Returns:
        The finished run (``completed`` or ``interrupted``).

    Raises:
        RunFailedError: if a step raised; the run is kept with status ``failed``.
        DeviceError: if the device is not available (no run folder is made).
        ConfigError: if the lab's pre-run ``check`` rejects the config (no run folder).
    """
    if lab.check is not None:
        lab.check(config, project)  # raises ConfigError before any folder exists
    lab.resolve_steps()  # a step function that cannot be imported fails before any folder too
    torch_device = resolve_device(device)
    writer = project.create_run(
        lab=lab.name,
        config=config_to_dict(config),
        device=str(torch_device),
        seeds=seeds_of(config),
        # The headline key is recorded so readers need not import the lab to show it.
        extra={
            "device_requested": device,
            "headline": lab.headline or "",
            "threads": thread_policy(),
            **(extra or {}),
        },
    )
    ctx = RunContext(
        config=config, device=torch_device, run=writer, on_event=on_event, cancel=cancel
    )
    log.info("run %s of lab %s started on %s", writer.id, lab.name, torch_device)
    with _Heartbeat(writer):
        return _run_steps(lab, ctx, writer)


class _Heartbeat:
    """Touches the run's heartbeat file every few seconds from a daemon thread."""

    interval = 5.0

    def __init__(self, writer: RunWriter) -> None:
        self._writer = writer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="workbench-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._writer.heartbeat()
            except OSError:  # the folder may be gone (deleted by the user); stop quietly
                return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


def _run_steps(lab: Lab[Any], ctx: RunContext, writer: RunWriter) -> Run:
    try:
        for index, step in enumerate(lab.steps):
            ctx.check_cancelled()
            ctx._enter_step(step.key)
            ctx.emit(StepStarted(index, step.key, step.title, len(lab.steps)))
            writer.write_progress(step.key, 0, 1, {})
            started = time.perf_counter()
            apply_step_threads()  # the thread policy for the step's own (non-training) work
            with writer.batch_arrays():  # one arrays/index.toml write per step
                step.run(ctx)
            writer.mark_step_done(step.key)
            seconds = time.perf_counter() - started
            log.info("step %s finished in %.2f s", step.key, seconds)
            ctx.emit(StepFinished(index, step.key, seconds))
    except (Cancelled, KeyboardInterrupt):
        log.info("run %s interrupted", writer.id)
        writer.finish("interrupted")  # closes log.txt: log before it
        return Run(writer.path)
    except WorkbenchError as err:
        log.error("run %s failed: %s", writer.id, err)
        writer.finish("failed", str(err))
        raise RunFailedError(Run(writer.path), f"run {writer.id} failed: {err}") from None
    except Exception as err:
        log.exception("run %s failed with an unexpected error", writer.id)
        writer.finish("failed", f"{type(err).__name__}: {err}")
        raise RunFailedError(
            Run(writer.path),
            f"run {writer.id} failed: {type(err).__name__}: {err} "
            f"(the traceback is in {writer.path / 'log.txt'})",
        ) from err
    log.info("run %s completed", writer.id)
    writer.finish("completed")
    return Run(writer.path)


def rerun(
    project: Project,
    run: Run,
    *,
    device: str | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> Run:
    """Run a lab again from a run's ``[config]`` alone, on the same device by default.

    The same config, seeds and device give the same results.
    """
    lab = load_lab(run.lab)
    config = lab.make_config(run.config, source=f"{run.path / 'run.toml'} [config]")
    recorded = str(run.info.get("device", "auto"))
    return run_lab(
        lab,
        config,
        project,
        device=device or recorded,
        on_event=on_event,
        cancel=cancel,
        extra={"rerun_of": run.id},
    )
