"""Start-up time: the TUI's first screen, ``workbench labs``, and what the imports cost.

Each figure is measured in a fresh interpreter (``subprocess``), best of several
repeats, from just before the process is started:

* **first screen**: the app runs headless under Textual's Pilot on an empty project
  until the home screen is mounted and the first refresh is done (target 1.5 s);
* **import workbench.tui.app** and **workbench labs** (the CLI listing the labs);
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_FIRST_SCREEN = 1.5

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
    baseline = min(timed([sys.executable, "-c", "pass"], env)[0] for _ in range(args.repeats))
    imp = min(
        timed([sys.executable, "-c", "import workbench.tui.app"], env)[0]
        for _ in range(args.repeats)
    )
    labs = min(
        timed([sys.executable, "-m", "workbench", "labs"], env)[0] for _ in range(args.repeats)
    )
    screens = [first_screen(env) for _ in range(args.repeats)]
    screen = min(s for s, _ in screens)
    loaded = screens[0][1]
    print(f"\nbare interpreter start:              {baseline:6.2f} s")
    print(f"import workbench.tui.app:            {imp:6.2f} s")
    print(f"workbench labs:                      {labs:6.2f} s")
    verdict = "met" if screen <= TARGET_FIRST_SCREEN else "MISSED"
    print(
        f"TUI first screen (80x24, headless):  {screen:6.2f} s "
        f"(target <= {TARGET_FIRST_SCREEN} s: {verdict})"
    )
    print(f"heavy modules loaded by the first screen: {loaded}")
    print("\nmost expensive imports of workbench.tui.app (cumulative seconds):")
    for seconds, name in import_breakdown(env):
        print(f"  {seconds:6.3f}  {name}")


if __name__ == "__main__":
    main()
