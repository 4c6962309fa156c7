"""Where workbench keeps things on this machine (platformdirs).

* the default project: ``<user data dir>/workbench/default-project``
* user settings and themes: ``<user config dir>/workbench/settings.toml`` and
  ``<user config dir>/workbench/themes/*.toml``

``WORKBENCH_DATA_DIR`` and ``WORKBENCH_CONFIG_DIR`` override both, which tests and
shared machines use to keep separate state.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["config_dir", "data_dir", "default_project_dir", "settings_file", "user_themes_dir"]

APP = "workbench"


def data_dir() -> Path:
    """The user data directory for workbench."""
    override = os.environ.get("WORKBENCH_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_dir() -> Path:
    """The user config directory for workbench."""
    override = os.environ.get("WORKBENCH_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP, appauthor=False))


def default_project_dir() -> Path:
    """The embedded default project, created on first use."""
    return data_dir() / "default-project"


def settings_file() -> Path:
    """User settings (theme and so on)."""
    return config_dir() / "settings.toml"


def user_themes_dir() -> Path:
    """Theme files a user drops here are picked up by the TUI."""
    return config_dir() / "themes"
