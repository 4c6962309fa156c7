"""Theme files shipped with workbench (``dark.toml``, ``light.toml``, ``high-contrast.toml``).

This folder is installed as the import package ``workbench_themes`` so the files
travel in the wheel; :func:`theme_files` lists them. The TUI reads them, and
also any ``*.toml`` a user drops into ``workbench.core.locations.user_themes_dir()``.

A theme file::

    name = "dark"                  # defaults to the file name without .toml
    [colors]                       # Textual's theme colours
    primary = "#4c9be8"
    background = "#16181d"
    dark = true                    # a dark theme (light text on dark background)
    ...                            # secondary, accent, warning, error, success,
                                   # foreground, surface, panel, boost
    [plots]
    series = ["#56b4e9", "#e69f00"]   # colours of successive curves
    band = "#5a5a5a"               # spread band across seeds
    fit = "#e65050"                # fitted power-law line
    heatmap_ramp = "viridis"       # viridis, magma, gray or coolwarm
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

__all__ = ["theme_files"]


def theme_files() -> list[Traversable]:
    """The shipped theme files, sorted by name."""
    root = resources.files(__name__)
    return sorted(
        (entry for entry in root.iterdir() if entry.name.endswith(".toml")),
        key=lambda entry: entry.name,
    )
