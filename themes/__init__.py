"""Theme files for the TUI (installed as ``workbench_themes``): one TOML file per theme."""
