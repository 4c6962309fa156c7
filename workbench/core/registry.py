"""Finding labs: the ``workbench.labs`` entry-point group.

Listing is cheap: it reads entry-point metadata and imports nothing. A lab is
imported only when it is asked for by name, and a wrong name gets a message
listing the labs that exist. Built-in labs register through the same entry
points as third-party packages.

Loading is cheap too: a lab's definition (title, config, step titles, views, presets) imports
neither torch nor scipy, because its steps are :class:`~workbench.core.lab.LazyStep` s that
import their module when they first run. So ``workbench labs`` loads every lab to list and
describe them in well under a second.

Lab authors can also load a lab straight from a module, without packaging it,
by setting ``WORKBENCH_EXTRA_LABS="name=package.module:LAB,..."``.
"""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from workbench.core.errors import LabNotFoundError
from workbench.core.lab import Lab

__all__ = ["ENTRY_POINT_GROUP", "LabEntry", "available_labs", "load_lab"]

ENTRY_POINT_GROUP = "workbench.labs"


@dataclass(frozen=True)
class LabEntry:
    """A lab that can be loaded: its name and ``module:attribute`` target."""

    name: str
    target: str

    def load(self) -> Lab[Any]:
        """Import the module and return its ``Lab``."""
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in (attr or "LAB").split("."):
                obj = getattr(obj, part)
        except Exception as err:  # a broken plugin is reported, not a crash
            raise LabNotFoundError(
                f"lab {self.name!r} is registered as {self.target} but cannot be loaded: "
                f"{type(err).__name__}: {err}"
            ) from err
        if not isinstance(obj, Lab):
            raise LabNotFoundError(
                f"{self.target} is not a workbench Lab (got {type(obj).__name__})"
            )
        if obj.name != self.name:
            raise LabNotFoundError(
                f"entry point {self.name!r} points at a lab named {obj.name!r}; they must match"
            )
        return obj


def available_labs() -> dict[str, LabEntry]:
    """Every registered lab by name, without importing any of them."""
    labs = {ep.name: LabEntry(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for item in os.environ.get("WORKBENCH_EXTRA_LABS", "").split(","):
        name, sep, target = item.strip().partition("=")
        if sep and name and target:
            labs[name.strip()] = LabEntry(name.strip(), target.strip())
    return dict(sorted(labs.items()))


def load_lab(name: str) -> Lab[Any]:
    """Load the lab registered under ``name``.

    Raises:
        LabNotFoundError: naming the labs that do exist, and the closest match.
    """
    labs = available_labs()
    entry = labs.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(labs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(labs) or "none are installed"
        raise LabNotFoundError(f"no lab named {name!r}{hint} Available labs: {known}")
    return entry.load()
