"""Theme files turned into Textual themes, plus the plot colours that go with them.

Themes come from the files shipped in ``workbench_themes`` (``themes/`` in the
repository) and from ``*.toml`` files a user drops into
:func:`workbench.core.locations.user_themes_dir`; a user file with the same name
as a shipped one replaces it. The file format is described in
``themes/__init__.py``.

The chosen theme is, in order: ``--theme NAME``, then ``theme = "NAME"`` in
:func:`workbench.core.locations.settings_file`, then ``dark``. A choice made in
the command palette is saved back to the settings file (atomically).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.theme import Theme

from workbench.core.atomic import atomic_write_toml, read_toml
from workbench.core.locations import settings_file, user_themes_dir
from workbench.render.colors import get_ramp, parse_hex
from workbench.render.plots import PlotPalette

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DEFAULT_THEME",
    "SettingsError",
    "ThemeError",
    "ThemeSpec",
    "discover_themes",
    "load_theme_text",
    "read_settings",
    "save_theme",
    "saved_theme",
]

DEFAULT_THEME = "dark"
_COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


class ThemeError(ValueError):
    """A theme file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class ThemeSpec:
    """A Textual theme and the plot colours that go with it.

    Attributes:
        theme: The Textual theme (registered with the app).
        palette: Colours of curves, bands and fits.
        heatmap_ramp: Name of the heatmap colour ramp.
        source: Where the theme came from (a file path, or ``built-in``).
    """

    theme: Theme
    palette: PlotPalette = field(default_factory=PlotPalette)
    heatmap_ramp: str = "viridis"
    source: str = "built-in"

    @property
    def name(self) -> str:
        """The theme's name, as used by ``--theme`` and the palette."""
        return self.theme.name


def load_theme_text(text: str, *, default_name: str, source: str) -> ThemeSpec:
    """Parse one theme file's text.

    Args:
        text: The TOML text.
        default_name: Name used when the file has no ``name`` (its file stem).
        source: Shown in error messages (the file path).

    Raises:
        ThemeError: naming the file, the key and what is allowed.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ThemeError(f"theme file {source} is not valid TOML: {err}") from None
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"theme file {source}: name must be a non-empty string")
    colors = _table(data, "colors", source)
    plots = _table(data, "plots", source)
    kwargs: dict[str, Any] = {}
    for key, value in colors.items():
        if key == "dark":
            if not isinstance(value, bool):
                raise ThemeError(f"theme file {source}: colors.dark must be true or false")
            kwargs["dark"] = value
        elif key in _COLOR_KEYS:
            kwargs[key] = _hex(value, f"colors.{key}", source)
        else:
            raise ThemeError(
                f"theme file {source}: unknown key colors.{key}; "
                f"allowed: dark, {', '.join(_COLOR_KEYS)}"
            )
    if "primary" not in kwargs:
        raise ThemeError(f'theme file {source}: colors.primary is required (e.g. "#4c9be8")')
    palette = PlotPalette()
    series = plots.get("series")
    if series is not None:
        if not isinstance(series, list) or not series:
            raise ThemeError(f'theme file {source}: plots.series must be a list of "#rrggbb"')
        palette = PlotPalette(
            series=tuple(parse_hex(_hex(c, "plots.series", source)) for c in series),
            band=palette.band,
            fit=palette.fit,
        )
    if "band" in plots:
        palette = PlotPalette(
            palette.series, parse_hex(_hex(plots["band"], "plots.band", source)), palette.fit
        )
    if "fit" in plots:
        palette = PlotPalette(
            palette.series, palette.band, parse_hex(_hex(plots["fit"], "plots.fit", source))
        )
    ramp = plots.get("heatmap_ramp", "viridis")
    try:
        get_ramp(str(ramp))
    except ValueError as err:
        raise ThemeError(f"theme file {source}: plots.heatmap_ramp: {err}") from None
    return ThemeSpec(Theme(name=name.strip(), **kwargs), palette, str(ramp), source)


def discover_themes(extra_dirs: Iterable[Path] = ()) -> tuple[dict[str, ThemeSpec], list[str]]:
    """Every theme: shipped files, then the user's theme folder (later ones win).

    Returns:
        The themes by name, and one message per file that could not be read (the
        app shows them as notifications instead of failing).
    """
    themes: dict[str, ThemeSpec] = {}
    problems: list[str] = []
    for name, text, source in _shipped_theme_texts():
        _add(themes, problems, text, name, source)
    for folder in (user_themes_dir(), *extra_dirs):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                problems.append(f"theme file {path} cannot be read: {err}")
                continue
            _add(themes, problems, text, path.stem, str(path))
    return themes, problems


class SettingsError(ValueError):
    """The settings file exists but cannot be parsed; it is left exactly as it is."""


def read_settings() -> dict[str, Any]:
    """The settings file as a table (``{}`` when there is none).

    Raises:
        SettingsError: naming the file and what is wrong with it.
    """
    path = settings_file()
    try:
        return read_toml(path)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(
            f"{path} cannot be read ({err}); it is ignored and kept as it is"
        ) from None


def saved_theme() -> str | None:
    """The theme saved in the settings file, if any.

    Raises:
        SettingsError: if the file is malformed (the caller tells the user).
    """
    value = read_settings().get("theme")
    return value if isinstance(value, str) and value else None


def save_theme(name: str) -> None:
    """Save the theme choice, keeping the other settings; written atomically.

    Raises:
        SettingsError: if the existing file cannot be parsed; it is never overwritten,
            since that would lose what the user wrote there.
    """
    data = read_settings()
    data["theme"] = name
    atomic_write_toml(settings_file(), data)


# --- internals --------------------------------------------------------------------------------


def _add(
    themes: dict[str, ThemeSpec], problems: list[str], text: str, name: str, source: str
) -> None:
    try:
        spec = load_theme_text(text, default_name=name, source=source)
    except ThemeError as err:
        problems.append(str(err))
        return
    themes[spec.name] = spec


def _shipped_theme_texts() -> list[tuple[str, str, str]]:
    """``(stem, text, source)`` of each shipped theme file.

    Installed, they are in the ``workbench_themes`` package. In a source checkout
    whose install does not map that package yet, the ``themes/`` folder beside
    ``workbench/`` is read instead.
    """
    try:
        from workbench_themes import theme_files
    except ImportError:
        folder = Path(__file__).resolve().parents[2] / "themes"
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        return [(p.stem, p.read_text(encoding="utf-8"), str(p)) for p in files]
    return [
        (entry.name.removesuffix(".toml"), entry.read_text(encoding="utf-8"), entry.name)
        for entry in theme_files()
    ]


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ThemeError(f"theme file {source}: [{key}] must be a table")
    return table


def _hex(value: Any, key: str, source: str) -> str:
    if not isinstance(value, str):
        raise ThemeError(f'theme file {source}: {key} must be a colour string like "#4c9be8"')
    try:
        parse_hex(value)
    except ValueError:
        raise ThemeError(
            f'theme file {source}: {key} = {value!r} is not allowed: use "#rrggbb"'
        ) from None
    return value
