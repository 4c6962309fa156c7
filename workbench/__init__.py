"""workbench: a terminal lab bench for neural-network interpretability research.

The headless library lives in :mod:`workbench.core` (no Textual imports) and the
measures are public as :mod:`workbench.measures`. Notebook users start with
:func:`workbench.open_project`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "open_project"]


def open_project(path: str | None = None):  # type: ignore[no-untyped-def]
    """Open a project folder, or the default project.

    See :func:`workbench.core.runs.open_project`.
    """
    from workbench.core.runs import open_project as _open

    return _open(path)
