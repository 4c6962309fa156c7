"""Packaging: every package folder is listed in pyproject, and labs register as entry points."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from tests.conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAPPED = {
    "labs": "workbench_labs",
    "themes": "workbench_themes",
    "sample_projects": "workbench_samples",
}


def _listed() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(data["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_listed_in_pyproject() -> None:
    found = set()
    for top in ("workbench", *MAPPED):
        for init in (REPO / top).rglob("__init__.py"):
            parts = list(init.parent.relative_to(REPO).parts)
            if any(p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            parts[0] = MAPPED.get(parts[0], parts[0])
            found.add(".".join(parts))
    assert found - _listed() == set(), "add these to [tool.setuptools] packages"


def test_builtin_labs_are_entry_points() -> None:
    names = {ep.name for ep in entry_points(group="workbench.labs")}
    assert {"toy-tasks", "fuzzy-xor", "gpt2-residual-mi"} <= names
