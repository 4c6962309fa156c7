"""Regenerate ``sample_projects/default``: one small, completed run of each built-in lab.

The sample project is made with the project's own commands (``workbench init``
and ``workbench run``), so it shows exactly what a user's runs look like and can
be rebuilt whenever a lab changes::

    python scripts/make_sample_project.py            # all labs
    python scripts/make_sample_project.py toy-tasks  # just one (other runs are kept)

Configs are chosen to finish in about a minute each on a 2-core CPU and to keep
the shipped folder small; they are written in each run's ``[config]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "sample_projects" / "default"

#: Per lab: the `--set` overrides of its sample run.
SAMPLE_RUNS: dict[str, list[str]] = {
    "toy-tasks": [],  # the defaults: the README quotes what they find
    "fuzzy-xor": ["seeds=64"],
    "gpt2-residual-mi": [],
    "path-dependence": ["seeds=16"],
    "channels": [],
    "basin": ["seeds=16", "draws=600", "burn_in=150", "directions=64"],
}


def workbench(*args: str) -> None:
    """Run one `workbench` command, failing loudly."""
    cmd = [sys.executable, "-m", "workbench", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=list(SAMPLE_RUNS), help="labs to (re)make")
    args = parser.parse_args()
    if set(args.labs) == set(SAMPLE_RUNS):
        shutil.rmtree(TARGET / "runs", ignore_errors=True)
        (TARGET / "workbench.toml").unlink(missing_ok=True)
    if not (TARGET / "workbench.toml").exists():
        workbench("init", str(TARGET), "--name", "sample",
                  "--description", "Small completed runs of every built-in lab.")  # fmt: skip
    for lab in args.labs:
        project = TARGET
        for run in sorted((project / "runs").glob("*/run.toml")):
            if f'lab = "{lab}"' in run.read_text():
                shutil.rmtree(run.parent)
        sets = [item for s in SAMPLE_RUNS[lab] for item in ("--set", s)]
        workbench("run", lab, "--project", str(project), "--device", "cpu", "--quiet", *sets)
    workbench("runs", "--project", str(TARGET))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
