"""Dependencies point one way: core and labs never load Textual; the core never loads labs.

Checked twice: in a fresh interpreter (what is actually imported at run time)
and with import-linter's static contracts from pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEADLESS = [
    "workbench.core.runs",
    "workbench.core.runner",
    "workbench.core.archive",
    "workbench.core.lab",
    "workbench.core.config",
    "workbench.core.registry",
    "workbench.core.samples",
    "workbench.measures",
    "workbench_labs.toy_tasks",
    "workbench_labs.fuzzy_xor",
    "workbench_labs.gpt2_residual_mi",
]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_modules_do_not_load_textual(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext')"
        " or m.startswith('workbench.tui'));"
        "core_bad = sorted(m for m in sys.modules if m.startswith('workbench_labs'))"
        f" if {module!r}.startswith('workbench.') else [];"
        "print(bad + core_bad); sys.exit(1 if bad or core_bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, f"{module} pulled in {proc.stdout.strip()} {proc.stderr[-2000:]}"


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([exe], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


FIRST_SCREEN = ["workbench.tui.app", "workbench.render", "workbench.render.views"]


@pytest.mark.parametrize("module", FIRST_SCREEN)
def test_the_first_screen_does_not_wait_for_torch_or_scipy(module: str) -> None:
    # torch (~2 s), scipy.stats (~1.3 s) and plotext (~1 s) are imported where they
    # are used, never by importing the TUI or the renderers (benchmarks/bench_startup.py).
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'scipy', 'plotext'));"
        "print(sorted({m.split('.')[0] for m in bad})); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, f"{module} pulled in {proc.stdout.strip()} {proc.stderr[-2000:]}"


LAB_PACKAGES = [
    "workbench_labs.basin",
    "workbench_labs.channels",
    "workbench_labs.fuzzy_xor",
    "workbench_labs.gpt2_residual_mi",
    "workbench_labs.path_dependence",
    "workbench_labs.toy_tasks",
]


@pytest.mark.parametrize("module", [*LAB_PACKAGES, *(f"{m}.config" for m in LAB_PACKAGES)])
def test_a_lab_definition_and_its_config_import_without_torch_or_scipy(module: str) -> None:
    # A lab names its steps with LazyStep and its config imports names only (core.choices).
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "tops = {m.split('.')[0] for m in sys.modules};"
        "bad = sorted(tops & {'torch', 'scipy'}); print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, f"{module} pulled in {proc.stdout.strip()} {proc.stderr[-2000:]}"


def test_workbench_labs_lists_and_describes_every_lab_without_torch_or_scipy() -> None:
    # `workbench labs` and `workbench labs NAME` for every built-in lab, in one fresh
    # interpreter; only built-in labs (the test fixture lab imports torch on purpose).
    code = """
import contextlib, io, sys
from workbench.cli import main
from workbench.core.registry import available_labs
names = sorted(available_labs())
out = io.StringIO()
with contextlib.redirect_stdout(out):
    codes = [main(["labs"])] + [main(["labs", n]) for n in names]
bad = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('torch', 'scipy')})
text = out.getvalue()
missing = [n for n in names if text.count(n) < 2]  # once in the list, once described
print(names, codes, bad, missing)
sys.exit(1 if bad or missing or any(codes) or len(names) < 6 else 0)
"""
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_EXTRA_LABS"}
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
