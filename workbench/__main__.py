"""``python -m workbench`` is the ``workbench`` command (the TUI uses it to start runs)."""

from workbench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
