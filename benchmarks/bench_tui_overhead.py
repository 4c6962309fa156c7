"""Training throughput with the TUI following the run, against the headless CLI.

The issue asks that, with the TUI open, training runs at least 90% as fast as the
headless CLI. This script trains the same toy-tasks ensemble (same config, same
seeds, so the same work) in three ways, in the same session:

1. **headless**: ``python -m workbench run toy-tasks ... --quiet`` alone;
2. **TUI (in process)**: the same command, while a Textual app (headless driver,
   80×24) in this process shows the run's live screen, polling and redrawing;
3. **TUI (tmux)**: the same command, while the real ``workbench`` runs in a tmux
   terminal at 80×24 on the live screen (skipped when tmux is missing).

Throughput is measured by the training process itself: the ``done`` count and the
``updated`` time stamp of its ``progress.toml``, sampled about ten times a second
by this script in every mode, between 40% and 95% of the training steps. The TUI
is started and showing the live screen before that window opens, so its start-up
(imports, first layout) is not counted: the question is what following a run
costs. The modes alternate so a machine that gets busier or quieter affects them
alike; the script prints every run, the medians and the ratios.

Usage::

    python benchmarks/bench_tui_overhead.py [--seeds 200] [--steps 6000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The measured window, as fractions of the training steps.
WINDOW = (0.40, 0.95)


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a process so far, from /proc (Linux); 0 elsewhere."""
    if pid is None:
        return time.process_time()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """One measured run: wall-clock throughput, and CPU use of trainer and follower."""

    steps_per_second: float
    trainer_cpu: float  # CPU seconds of the training process per wall second
    follower_cpu: float  # CPU seconds of the TUI (or of this script, headless) per wall second


class Sampler:
    """Samples the train step's progress.toml, and CPU times, while training runs.

    Args:
        run: The run being trained.
        trainer_pid: Its process id.
        follower_pid: The TUI's process id (``None``: this process).
    """

    def __init__(self, run: Any, trainer_pid: int, follower_pid: int | None = None) -> None:
        self.run = run
        self.trainer_pid = trainer_pid
        self.follower_pid = follower_pid
        # (updated time, done, total, trainer cpu s, follower cpu s)
        self.samples: list[tuple[float, float, float, float, float]] = []
        self.ready_at: float | None = None  # done count when the TUI was ready

    def sample(self) -> None:
        progress = self.run.progress()
        updated = progress.get("updated")
        if progress.get("step") != "train" or not hasattr(updated, "timestamp"):
            return
        point = (
            updated.timestamp(),
            float(progress["done"]),
            float(progress["total"]),
            cpu_seconds(self.trainer_pid),
            cpu_seconds(self.follower_pid),
        )
        if not self.samples or point[0] > self.samples[-1][0]:
            self.samples.append(point)

    def trained(self) -> bool:
        return "train" in self.run.steps_done

    def mark_ready(self) -> None:
        if self.ready_at is None:
            self.ready_at = self.samples[-1][1] if self.samples else 0.0

    def result(self) -> Result:
        """Throughput and CPU shares between the window's first and last samples."""
        if not self.samples:
            raise SystemExit("no progress samples: the run did not report progress")
        total = self.samples[-1][2]
        lo, hi = WINDOW[0] * total, WINDOW[1] * total
        if self.ready_at is not None and self.ready_at > lo:
            raise SystemExit(
                f"the TUI was ready only at step {self.ready_at:.0f} of {total:.0f}; "
                "use more --steps so its start-up stays out of the window"
            )
        inside = [s for s in self.samples if lo <= s[1] <= hi]
        if len(inside) < 2:
            raise SystemExit("too few progress samples in the window; use more --steps")
        (t0, d0, _, a0, b0), (t1, d1, _, a1, b1) = inside[0], inside[-1]
        wall = t1 - t0
        return Result((d1 - d0) / wall, (a1 - a0) / wall, (b1 - b0) / wall)


def config_values(args: argparse.Namespace) -> dict[str, object]:
    return {
        "tasks": ["first-bit"],
        "seeds": args.seeds,
        "steps": args.steps,
        "loss_threshold": 0.0,  # every network trains every step: the same work each time
        "log_every": 50,
    }


def launch(project: Any, args: argparse.Namespace) -> Any:
    from workbench.tui.launch import start_run

    return start_run(project, "toy-tasks", config_values(args), device="cpu")


def wait_for_run(project: Any, handle: Any, timeout: float = 300.0) -> Any:
    from workbench.tui.launch import find_launched_run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = find_launched_run(project, handle)
        if run is not None:
            return run
        if handle.poll() is not None:
            raise SystemExit(f"the run did not start:\n{handle.error_text()}")
        time.sleep(0.05)
    raise SystemExit("the run did not create its folder in time")


def stop(handle: Any) -> None:
    """Cancel the analysis steps (not measured) and reap the process."""
    if handle.poll() is None:
        os.kill(handle.pid, signal.SIGINT)
    try:
        handle.process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        handle.process.kill()
        handle.process.wait()
    handle.cleanup()


def follow(handle: Any, sampler: Sampler, tick: Callable[[], bool]) -> Result:
    """Sample until training is done; ``tick`` returns True once the TUI is ready."""
    while not sampler.trained():
        if handle.poll() is not None:
            raise SystemExit(f"the run ended before training finished:\n{handle.error_text()}")
        sampler.sample()
        if tick():
            sampler.mark_ready()
        time.sleep(0.1)
    return sampler.result()


def headless(project: Any, args: argparse.Namespace) -> Result:
    handle = launch(project, args)
    try:
        sampler = Sampler(wait_for_run(project, handle), handle.pid)
        return follow(handle, sampler, lambda: False)
    finally:
        stop(handle)


def with_tui(project: Any, args: argparse.Namespace) -> Result:
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.live import LiveScreen

    async def go() -> Result:
        app = WorkbenchApp(project)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(1.0)
            handle = launch(project, args)
            try:
                run = wait_for_run(project, handle)
                sampler = Sampler(run, handle.pid)
                app.follow_run(run)
                while not sampler.trained():
                    if handle.poll() is not None:
                        raise SystemExit(f"the run ended early:\n{handle.error_text()}")
                    sampler.sample()
                    screen = app.screen
                    if isinstance(screen, LiveScreen) and screen.curves is not None:
                        sampler.mark_ready()
                    await pilot.pause(0.1)
                return sampler.result()
            finally:
                stop(handle)

    return asyncio.run(go())


def with_tmux(project: Any, args: argparse.Namespace) -> Result:
    tmux = ["tmux", "-L", f"wb-bench-{os.getpid()}"]
    script = Path(sys.executable).with_name("workbench")
    program = str(script) if script.exists() else f"{sys.executable} -m workbench"
    env = [
        arg
        for name in ("WORKBENCH_DATA_DIR", "WORKBENCH_CONFIG_DIR", "PYTHONPATH")
        if name in os.environ
        for arg in ("-e", f"{name}={os.environ[name]}")
    ]
    command = f"{program} --project {project.path}"
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "24", "-s", "bench", *env, command],
        check=True,
    )
    subprocess.run([*tmux, "set-option", "-s", "escape-time", "0"], check=True)
    handle = None
    try:
        _wait_pane(tmux, lambda text: "Project" in text)
        tui_pid = int(
            subprocess.run(
                [*tmux, "display-message", "-p", "-t", "bench", "#{pane_pid}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        handle = launch(project, args)
        sampler = Sampler(wait_for_run(project, handle), handle.pid, tui_pid)
        keys_sent = False

        def tick() -> bool:
            nonlocal keys_sent
            text = _pane(tmux)
            if not keys_sent and sampler.run.id in text:
                subprocess.run([*tmux, "send-keys", "-t", "bench", "l"], check=True)
                keys_sent = True
            return keys_sent and "loss" in text and "step 1/" in text

        return follow(handle, sampler, tick)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if handle is not None:
            stop(handle)


def _pane(tmux: list[str]) -> str:
    return subprocess.run(
        [*tmux, "capture-pane", "-p", "-t", "bench"], capture_output=True, text=True
    ).stdout


def _wait_pane(tmux: list[str], ok: Callable[[str], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok(_pane(tmux)):
        if time.monotonic() > deadline:
            raise SystemExit(f"the TUI did not start in tmux:\n{_pane(tmux)}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="networks (default 200)")
    parser.add_argument("--steps", type=int, default=6000, help="training steps (default 6000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (default 3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        os.environ["WORKBENCH_DATA_DIR"] = str(Path(tmp) / "data")
        os.environ["WORKBENCH_CONFIG_DIR"] = str(Path(tmp) / "config")
        from workbench.core.runs import init_project

        project = init_project(Path(tmp) / "project")
        modes = {"headless": headless, "TUI (in process)": with_tui}
        if shutil.which("tmux"):
            modes["TUI (tmux)"] = with_tmux
        else:
            print("tmux not found: the real-terminal mode is skipped")
        print(
            f"toy-tasks, 1 task × {args.seeds} seeds, {args.steps} steps, CPU, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
        results: dict[str, list[Result]] = {m: [] for m in modes}
        for i in range(args.repeats):
            for name, fn in modes.items():
                r = fn(project, args)
                results[name].append(r)
                print(
                    f"  run {i + 1}  {name:<17} {r.steps_per_second:8.1f} steps/s   "
                    f"trainer {r.trainer_cpu:4.2f} CPU   follower {r.follower_cpu:5.3f} CPU",
                    flush=True,
                )
        base = statistics.median(r.steps_per_second for r in results["headless"])
        lo, hi = (round(f * 100) for f in WINDOW)
        print(f"\nover {lo}–{hi}% of training, median of {args.repeats} runs per mode")
        print(f"{'mode':<18} {'steps/s':>9} {'vs headless':>12} {'follower CPU':>13}")
        for name, rs in results.items():
            rate = statistics.median(r.steps_per_second for r in rs)
            cpu = statistics.median(r.follower_cpu for r in rs)
            print(f"{name:<18} {rate:9.1f} {rate / base:11.1%} {cpu:12.1%}")
        print(
            "\nfollower CPU: CPU seconds per second of the TUI process (headless: of this\n"
            "script's sampling alone), the share of a core taken from training."
        )
        load = os.getloadavg()[0]
        if load > (os.cpu_count() or 1):
            print(
                f"note: load average {load:.1f} on {os.cpu_count()} cores: other work is "
                "running, so the wall-clock ratios carry its noise."
            )
        print("\ntarget: throughput with the TUI open >= 90% of the headless CLI's")


if __name__ == "__main__":
    main()
