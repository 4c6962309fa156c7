"""The engines that run a sweep's cells: a local process pool, Ray, or Slurm through submitit.

Every engine runs the same worker function, :func:`run_cell`, which runs one cell as an
ordinary run of the project (``[run].sweep`` and ``sweep_cell`` say where it belongs) and
returns ``(state, run id, error)``. The driver (:func:`run_sweep`) submits the cells, records
each state in ``sweep.toml`` as results come back, and on Ctrl-C cancels what is running: each
cancelled run ends ``interrupted`` and stays readable.

Where runs are written: every engine writes run folders straight into the project folder, so
with Ray on a cluster (``--address``) or with Slurm, the project must live on a file system that
every node mounts (the usual set-up for both). Nothing is shipped back.

Ray and submitit are optional (``pip install -e ".[ray]"``, ``".[slurm]"``) and imported only by
their engine.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import ConfigError, WorkbenchError
from workbench.core.sweep import Cell, Sweep

__all__ = ["ENGINES", "EngineOptions", "run_cell", "run_sweep"]

log = logging.getLogger(__name__)

ENGINES = ("local", "ray", "slurm")

CellResult = tuple[str, str, str]  # (state, run id, error)


@dataclass(frozen=True)
class EngineOptions:
    """How to run the cells.

    Attributes:
        jobs: Cells at once (local pool size; Ray's CPUs when it starts a local Ray; Slurm's
            array parallelism).
        device: ``auto``, ``cpu`` or ``cuda`` for every run.
        threads: torch intra-op threads per cell (None: cores // jobs, at least 1).
        address: Ray cluster address (None: start a local Ray for the sweep).
        cpus_per_cell, gpus_per_cell: What each Ray task or Slurm job asks for.
        slurm: submitit parameters (partition, timeout_min, ...); ``cluster = "local"`` runs
            submitit's local executor (tests, laptops).
    """

    jobs: int = 1
    device: str = "auto"
    threads: int | None = None
    address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    slurm: dict[str, Any] = field(default_factory=dict)


def run_cell(
    project_path: str,
    lab_name: str,
    config: dict[str, Any],
    device: str,
    sweep_id: str,
    cell_index: int,
    threads: int | None = None,
) -> CellResult:
    """Run one cell in this process; never raises for a failed run (the driver records it)."""
    global _IN_CELL
    _IN_CELL = True
    try:
        return _run_cell(project_path, lab_name, config, device, sweep_id, cell_index, threads)
    finally:
        _IN_CELL = False


def _run_cell(
    project_path: str,
    lab_name: str,
    config: dict[str, Any],
    device: str,
    sweep_id: str,
    cell_index: int,
    threads: int | None,
) -> CellResult:
    if threads:
        import torch

        torch.set_num_threads(threads)
    from workbench.core.registry import load_lab
    from workbench.core.runner import RunFailedError, run_lab
    from workbench.core.runs import Project

    try:
        lab = load_lab(lab_name)
        cfg = lab.make_config(config, source=f"sweep {sweep_id} cell {cell_index}")
        run = run_lab(
            lab,
            cfg,
            Project(Path(project_path)),
            device=device,
            extra={"sweep": sweep_id, "sweep_cell": cell_index},
        )
    except RunFailedError as err:
        return "failed", err.run.id, str(err)
    except WorkbenchError as err:
        return "failed", "", str(err)
    except KeyboardInterrupt:
        return "interrupted", "", "cancelled"
    return run.status, run.id, ""


def _threads(options: EngineOptions) -> int:
    return options.threads or max(1, (os.cpu_count() or 1) // max(1, options.jobs))


#: True while this process runs a cell: Ctrl-C then interrupts the run; between cells a pool
#: worker ignores it (the driver cancels what has not started).
_IN_CELL = False


def _on_sigint(signum: int, frame: Any) -> None:
    if _IN_CELL:
        raise KeyboardInterrupt


def _worker_init(gpus: list[str], counter: Any) -> None:
    """Pool worker set-up: Ctrl-C handling, and its own GPU (round robin) before torch loads."""
    import signal

    signal.signal(signal.SIGINT, _on_sigint)
    if gpus:
        with counter.get_lock():
            slot = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]


def _visible_gpus() -> list[str]:
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # pragma: no cover - no torch CUDA runtime
        return []


def _args(sweep: Sweep, cell: Cell, options: EngineOptions) -> tuple[Any, ...]:
    return (
        str(sweep.project_path),
        sweep.lab,
        cell.config,
        options.device,
        sweep.id,
        cell.index,
        _threads(options),
    )


def _record(sweep: Sweep, cell: Cell, result: CellResult, on_change: Callable[[], None]) -> None:
    cell.state, cell.run, cell.error = result
    sweep.save()
    on_change()


def _run_local(
    sweep: Sweep, cells: list[Cell], options: EngineOptions, on_change: Callable[[], None]
) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no fork after torch's thread pools exist
    gpus = _visible_gpus() if options.device != "cpu" else []
    pool = ProcessPoolExecutor(
        max_workers=options.jobs,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(gpus if len(gpus) > 1 else [], ctx.Value("i", 0)),
    )
    pending: dict[Future[CellResult], Cell] = {}
    try:
        for cell in cells:
            pending[pool.submit(run_cell, *_args(sweep, cell, options))] = cell
            cell.state = "running"
        sweep.save()
        on_change()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                cell = pending.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # a worker that died (killed, out of memory)
                    result = ("failed", cell.run, f"worker died: {type(err).__name__}: {err}")
                _record(sweep, cell, result, on_change)
    except KeyboardInterrupt:
        # Ctrl-C reached the workers too (one process group): their runs end interrupted.
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_ray(
    sweep: Sweep, cells: list[Cell], options: EngineOptions, on_change: Callable[[], None]
) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError("engine", "ray", 'Ray installed: pip install -e ".[ray]"') from None
    started = not ray.is_initialized()
    if started:
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(num_cpus=options.jobs, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=options.cpus_per_cell, num_gpus=options.gpus_per_cell)(run_cell)
    refs = {task.remote(*_args(sweep, c, options)): c for c in cells}
    for cell in cells:
        cell.state = "running"
    sweep.save()
    on_change()
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                cell = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as err:  # the task's worker died
                    result = ("failed", "", f"ray task failed: {type(err).__name__}: {err}")
                _record(sweep, cell, result, on_change)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref)  # raises KeyboardInterrupt inside the task: the run ends interrupted
        _drain_ray(ray, refs, sweep, on_change)
        raise
    finally:
        if started:
            ray.shutdown()


def _drain_ray(
    ray: Any, refs: dict[Any, Cell], sweep: Sweep, on_change: Callable[[], None]
) -> None:
    deadline = time.monotonic() + 30
    for ref, cell in refs.items():
        try:
            result = ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
        except Exception:
            result = ("interrupted", cell.run, "cancelled")
        _record(sweep, cell, result, on_change)


def _run_slurm(
    sweep: Sweep, cells: list[Cell], options: EngineOptions, on_change: Callable[[], None]
) -> None:
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            "engine", "slurm", 'submitit installed: pip install -e ".[slurm]"'
        ) from None
    params = dict(options.slurm)
    cluster = params.pop("cluster", None)
    executor = submitit.AutoExecutor(folder=str(sweep.path / "submitit"), cluster=cluster)
    params.setdefault("timeout_min", 60)
    params.setdefault("slurm_array_parallelism", options.jobs)
    if options.gpus_per_cell:
        params.setdefault("gpus_per_node", int(options.gpus_per_cell))
    executor.update_parameters(**params)
    columns = list(zip(*(_args(sweep, c, options) for c in cells), strict=True))
    jobs = executor.map_array(run_cell, *columns)
    pending = dict(zip(jobs, cells, strict=True))
    for cell, job in zip(cells, jobs, strict=True):
        cell.state = "running"
        cell.error = f"slurm job {job.job_id}"
    sweep.save()
    on_change()
    try:
        while pending:
            for job in [j for j in pending if j.done()]:
                cell = pending.pop(job)
                try:
                    result = job.result()
                except Exception as err:
                    result = ("failed", "", f"slurm job {job.job_id} failed: {err}")
                _record(sweep, cell, result, on_change)
            time.sleep(0.5)
    except KeyboardInterrupt:
        for job, cell in pending.items():
            job.cancel(check=False)
            _record(sweep, cell, ("interrupted", cell.run, "cancelled"), on_change)
        raise


_RUNNERS = {"local": _run_local, "ray": _run_ray, "slurm": _run_slurm}


def run_sweep(
    sweep: Sweep,
    options: EngineOptions,
    *,
    cells: Iterable[Cell] | None = None,
    on_change: Callable[[], None] | None = None,
) -> Sweep:
    """Run ``cells`` (default: every cell not completed) with the sweep's engine.

    Raises:
        ConfigError: for an unknown engine or one whose package is not installed.
        KeyboardInterrupt: after cancelling the running cells (each ends ``interrupted``).
    """
    if sweep.engine not in _RUNNERS:
        raise ConfigError("engine", sweep.engine, f"one of {', '.join(ENGINES)}")
    if options.jobs < 1:
        raise ConfigError("jobs", options.jobs, "an integer >= 1")
    todo = list(cells) if cells is not None else sweep.todo()
    if todo:
        _RUNNERS[sweep.engine](sweep, todo, options, on_change or (lambda: None))
    return sweep
