"""Theme files: shipped ones load, a user's file is picked up, bad files are named, choice saved."""

from __future__ import annotations

import pytest

from workbench.core.atomic import read_toml
from workbench.core.locations import settings_file, user_themes_dir
from workbench.render.colors import parse_hex
from workbench.tui.themes import (
    SettingsError,
    ThemeError,
    discover_themes,
    load_theme_text,
    save_theme,
    saved_theme,
)


def test_shipped_themes_load() -> None:
    themes, problems = discover_themes()
    assert problems == []
    assert {"dark", "light", "high-contrast"} <= set(themes)
    assert themes["dark"].theme.dark and not themes["light"].theme.dark
    assert themes["high-contrast"].theme.background == "#000000"
    assert themes["high-contrast"].heatmap_ramp == "magma"
    assert themes["dark"].palette.series[0] == parse_hex("#56b4e9")


def test_a_theme_file_dropped_in_the_user_folder_is_picked_up() -> None:
    folder = user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "solarized.toml").write_text(
        '[colors]\nprimary = "#268bd2"\nbackground = "#002b36"\n[plots]\nheatmap_ramp = "gray"\n'
    )
    (folder / "dark.toml").write_text('name = "dark"\n[colors]\nprimary = "#ff0000"\n')
    themes, problems = discover_themes()
    assert problems == []
    assert themes["solarized"].theme.primary == "#268bd2"
    assert themes["solarized"].heatmap_ramp == "gray"
    assert themes["dark"].theme.primary == "#ff0000"  # the user's file replaces the shipped one


def test_a_bad_theme_file_is_reported_by_name_and_skipped() -> None:
    folder = user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text('[colors]\nprimary = "blue"\n')
    themes, problems = discover_themes()
    assert "broken" not in themes and "dark" in themes
    assert len(problems) == 1
    assert "broken.toml" in problems[0] and "colors.primary" in problems[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml ===", "not valid TOML"),
        ('[colors]\nbackground = "#000000"\n', "colors.primary is required"),
        ('[colors]\nprimary = "#000000"\nshade = "#111111"\n', "unknown key colors.shade"),
        ('[colors]\nprimary = "#000000"\ndark = "yes"\n', "colors.dark must be true or false"),
        ('[colors]\nprimary = "#000000"\n[plots]\nheatmap_ramp = "jet"\n', "heatmap_ramp"),
        ('[colors]\nprimary = "#000000"\n[plots]\nseries = []\n', "plots.series"),
    ],
)
def test_theme_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ThemeError, match=message):
        load_theme_text(text, default_name="x", source="x.toml")


def test_theme_choice_is_saved_keeping_other_settings() -> None:
    assert saved_theme() is None
    path = settings_file()
    path.parent.mkdir(parents=True)
    path.write_text('editor = "vim"\n')
    save_theme("light")
    assert saved_theme() == "light"
    assert read_toml(path) == {"editor": "vim", "theme": "light"}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_malformed_settings_file_is_reported_and_never_overwritten() -> None:
    # Issue 14: a malformed settings.toml was ignored silently and later overwritten.
    path = settings_file()
    path.parent.mkdir(parents=True)
    path.write_text("theme = = =")
    with pytest.raises(SettingsError, match=r"settings\.toml cannot be read"):
        saved_theme()
    with pytest.raises(SettingsError, match="kept as it is"):
        save_theme("dark")
    assert path.read_text() == "theme = = ="
