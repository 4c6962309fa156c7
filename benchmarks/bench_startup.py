"""Start-up time: the TUI's first screen, ``workbench labs``, and what the imports cost.

Each figure is measured in a fresh interpreter (``subprocess``), the median of several
repeats (the minimum beside it), from just before the process is started:

* **first screen**: the app runs headless under Textual's Pilot on an empty project
  until the home screen is mounted and the first refresh is done (target 1.5 s);
* **import workbench.tui.app**;
* **workbench labs** (listing every lab) and **workbench labs NAME** (describing one, for
  every built-in lab), each as a ratio against the strongest plain alternative measured in
  the same run: a bare script that reads the same entry points and prints the same kind of
  rich table (plus rich's Markdown for a description), i.e. what listing costs with no lab
  loaded at all. Beside them, the same listing with every lab's steps imported eagerly (what
  ``workbench labs`` cost before steps were :class:`~workbench.core.lab.LazyStep` s), and
  whether torch or scipy got imported (they must not: target ``workbench labs`` < 1 s). These
  commands run round-robin, so machine load falls on each alike;
* whether torch, scipy or plotext were imported by the TUI's import (they must not
  be: they cost seconds and the first screen needs none of them);
* the ten most expensive imports of the TUI, from ``python -X importtime``.

Usage::

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_FIRST_SCREEN = 1.5
TARGET_LABS = 1.0

#: The strongest plain alternative to ``workbench labs``: the same entry points read and the
#: same kind of rich table printed, with no lab loaded. ``{markdown}`` adds what a description
#: renders with.
PLAIN_LISTING = """
from importlib.metadata import entry_points
from rich.console import Console
from rich.table import Table
{markdown}
table = Table("lab", "target")
for ep in entry_points(group="workbench.labs"):
    table.add_row(ep.name, ep.value)
Console().print(table)
"""

#: ``workbench labs`` with every lab's step modules imported, as listing did before LazyStep.
EAGER_LISTING = """
import contextlib, io
from workbench.cli import main
from workbench.core.registry import available_labs
with contextlib.redirect_stdout(io.StringIO()):
    main(["labs"])
for entry in available_labs().values():
    entry.load().resolve_steps()
"""

#: Which heavy modules ``workbench labs`` and ``workbench labs NAME`` for every lab import.
HEAVY_AFTER_LABS = """
import contextlib, io, sys
from workbench.cli import main
from workbench.core.registry import available_labs
with contextlib.redirect_stdout(io.StringIO()):
    main(["labs"])
    for name in available_labs():
        main(["labs", name])
print(",".join(m for m in ("torch", "scipy") if m in sys.modules) or "-")
"""

FIRST_SCREEN = """
import asyncio, sys, time
from pathlib import Path
from workbench.core.runs import init_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.home import HomeScreen

async def main() -> None:
    app = WorkbenchApp(init_project(Path(sys.argv[1]), name="bench"))
    async with app.run_test(size=(80, 24)) as pilot:
        while not isinstance(app.screen, HomeScreen):
            await pilot.pause(0.01)
        await pilot.pause()
        print(time.time())
        sys.stdout.flush()
        loaded = [m for m in ("torch", "scipy", "plotext") if m in sys.modules]
        print(",".join(loaded) or "-")

asyncio.run(main())
"""


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.time()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-2000:]}")
    return time.time() - start, proc.stdout


def median_time(args: list[str], env: dict[str, str], repeats: int) -> tuple[float, float]:
    """``(median, minimum)`` wall seconds of ``repeats`` fresh runs of ``args``."""
    times = [timed(args, env)[0] for _ in range(repeats)]
    return statistics.median(times), min(times)


def builtin_labs(env: dict[str, str]) -> list[str]:
    code = "from workbench.core.registry import available_labs; print(*available_labs())"
    return timed([sys.executable, "-c", code], env)[1].split()


def interleaved_medians(
    commands: dict[str, list[str]], env: dict[str, str], repeats: int
) -> dict[str, tuple[float, float]]:
    """``(median, minimum)`` seconds of each command, run round-robin so load hits all alike."""
    times: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(repeats):
        for key, args in commands.items():
            times[key].append(timed(args, env)[0])
    return {key: (statistics.median(t), min(t)) for key, t in times.items()}


def labs_figures(env: dict[str, str], repeats: int) -> None:
    """Print ``workbench labs [NAME]`` against the plain listing, interleaved in one run."""
    py = sys.executable
    names = builtin_labs(env)
    plain_md = PLAIN_LISTING.format(markdown="from rich.markdown import Markdown")
    commands = {
        "plain": [py, "-c", PLAIN_LISTING.format(markdown="")],
        "plain+md": [py, "-c", plain_md],
        "labs": [py, "-m", "workbench", "labs"],
        "eager": [py, "-c", EAGER_LISTING],
        **{name: [py, "-m", "workbench", "labs", name] for name in names},
    }
    t = interleaved_medians(commands, env, repeats)
    plain, plain_describe, listing, eager = t["plain"], t["plain+md"], t["labs"], t["eager"]
    print(f"\nplain listing (entry points + rich table): {plain[0]:5.2f} s (min {plain[1]:.2f})")
    print(f"  the same + rich.markdown:                 {plain_describe[0]:5.2f} s")
    verdict = "met" if listing[0] <= TARGET_LABS else "MISSED"
    print(
        f"workbench labs:                            {listing[0]:5.2f} s (min {listing[1]:.2f}), "
        f"{listing[0] / plain[0]:.2f}x the plain listing (target < {TARGET_LABS} s: {verdict})"
    )
    print(
        f"  with every lab's steps imported eagerly:  {eager[0]:5.2f} s, "
        f"{eager[0] / plain[0]:.2f}x the plain listing (before LazyStep)"
    )
    for name in names:
        print(
            f"workbench labs {name:<27s} {t[name][0]:5.2f} s (min {t[name][1]:.2f}), "
            f"{t[name][0] / plain_describe[0]:.2f}x the plain listing + markdown"
        )
    heavy = timed([py, "-c", HEAVY_AFTER_LABS], env)[1].strip()
    print(f"heavy modules loaded by workbench labs [NAME], every lab: {heavy}")


def first_screen(env: dict[str, str]) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        proc = subprocess.run(
            [sys.executable, "-c", FIRST_SCREEN, str(Path(tmp) / "p")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if proc.returncode != 0:
            raise SystemExit(f"first screen failed:\n{proc.stderr[-2000:]}")
        shown, loaded = proc.stdout.split()[:2]
        return float(shown) - start, loaded


def import_breakdown(env: dict[str, str], top: int = 10) -> list[tuple[float, str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import workbench.tui.app"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 2:  # top-level packages and their direct children
                rows.append((int(parts[1]) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "NO_COLOR": "1"}
    print(f"python {sys.version.split()[0]}, machine load {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")  # fmt: skip
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print("WARNING: the machine is busy; start-up times are inflated. Rerun when quiet.")
    # Only the built-in labs: a WORKBENCH_EXTRA_LABS lab is the user's, not the workbench's.
    env.pop("WORKBENCH_EXTRA_LABS", None)
    baseline = median_time([sys.executable, "-c", "pass"], env, args.repeats)[0]
    imp = median_time([sys.executable, "-c", "import workbench.tui.app"], env, args.repeats)[0]
    screens = [first_screen(env) for _ in range(args.repeats)]
    screen = statistics.median(s for s, _ in screens)
    loaded = screens[0][1]
    print(f"\nbare interpreter start:              {baseline:6.2f} s")
    print(f"import workbench.tui.app:            {imp:6.2f} s")
    verdict = "met" if screen <= TARGET_FIRST_SCREEN else "MISSED"
    print(
        f"TUI first screen (80x24, headless):  {screen:6.2f} s "
        f"(target <= {TARGET_FIRST_SCREEN} s: {verdict})"
    )
    print(f"heavy modules loaded by the first screen: {loaded}")
    labs_figures(env, args.repeats)
    print("\nmost expensive imports of workbench.tui.app (cumulative seconds):")
    for seconds, name in import_breakdown(env):
        print(f"  {seconds:6.3f}  {name}")


if __name__ == "__main__":
    main()
