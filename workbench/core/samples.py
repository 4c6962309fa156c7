"""The shipped sample project, copied to a writable place on first use.

The package copy (``workbench_samples/default``) may live in a read-only
site-packages, so users get their own copy under the user data folder.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from workbench.core.errors import ProjectError
from workbench.core.locations import data_dir
from workbench.core.runs import PROJECT_FILE, Project

__all__ = ["install_sample_project", "sample_project_source"]

SAMPLE_NAME = "default"


def sample_project_source() -> Path:
    """The shipped sample project folder (read-only)."""
    root = resources.files("workbench_samples") / SAMPLE_NAME
    path = Path(str(root))
    if not (path / PROJECT_FILE).is_file():
        raise ProjectError(
            "the sample project is not installed with this copy of workbench; "
            "regenerate it with `python scripts/make_sample_project.py`"
        )
    return path


def install_sample_project(dest: Path | None = None) -> Project:
    """Copy the sample project to ``dest`` (default: the user data folder) and open it.

    An existing copy is opened as it is, so a user's own runs in it are kept.
    """
    dest = Path(dest) if dest is not None else data_dir() / "sample-project"
    if not (dest / PROJECT_FILE).is_file():
        source = sample_project_source()
        staging = dest.with_name(f".{dest.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(dest)
    return Project(dest)
