"""Sweep throughput: a 16-cell toy-tasks sweep on each engine against the same runs in a loop.

The baseline is what a user does without sweeps: a shell loop of ``workbench run`` (one
process per run, one after another). Each engine runs the same cells with ``--jobs 2``. For
each it prints the wall time, the throughput relative to the loop (measured in this run), and
the per-cell overhead: ``(wall · jobs − Σ run durations) / cells``, the time a cell costs
beyond its own run (process start, imports, scheduling).

    python benchmarks/bench_sweep.py [--cells 16] [--engines local,ray,slurm]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = ["seeds=8", "steps=300"]  # on top of --preset quick


def _wb(*args: str, project: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "workbench", *args, "--project", str(project)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )


def _run_seconds(project: Path) -> float:
    from workbench.core.runs import Project

    total = 0.0
    for run in Project(project).runs():
        info = run.info
        start, end = info.get("created"), info.get("finished")
        if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
            total += (end - start).total_seconds()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--engines", default="local,ray,slurm")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    seeds = list(range(args.cells))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if os.getloadavg()[0] > (os.cpu_count() or 1) * 0.5:
        print("warning: the machine is loaded; ratios are measured in the same run but noisy")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loop = root / "loop"
        _wb("init", str(loop), project=loop)
        start = time.perf_counter()
        for s in seeds:
            sets = [a for kv in [*BASE, f"task_seed={s}"] for a in ("--set", kv)]
            _wb("run", "toy-tasks", "--preset", "quick", *sets, "--quiet", project=loop)
        t_loop = time.perf_counter() - start
        work = _run_seconds(loop)
        per_cell = (t_loop - work) / len(seeds)
        print(f"shell loop    {t_loop:7.1f} s   1.00x   overhead {per_cell:.2f} s/cell")
        for engine in args.engines.split(","):
            needs = {"ray": "ray", "slurm": "submitit"}.get(engine)
            if needs and not _has(needs):
                print(f"{engine:<12}  skipped (not installed)")
                continue
            proj = root / engine
            _wb("init", str(proj), project=proj)
            extra = ["--slurm", 'cluster="local"'] if engine == "slurm" else []
            sets = [a for kv in BASE for a in ("--set", kv)]
            grid = "task_seed=[" + ",".join(map(str, seeds)) + "]"
            start = time.perf_counter()
            _wb("sweep", "toy-tasks", "--preset", "quick", "--grid", grid, *sets,
                "--engine", engine, "--jobs", str(args.jobs), "--quiet", *extra,
                project=proj)  # fmt: skip
            wall = time.perf_counter() - start
            work = _run_seconds(proj)
            overhead = (wall * args.jobs - work) / len(seeds)
            ratio = t_loop / wall
            print(f"{engine:<12}  {wall:7.1f} s   {ratio:.2f}x   overhead {overhead:.2f} s/cell")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
