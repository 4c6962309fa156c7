"""The Textual workbench: ``workbench`` with no subcommand opens it (:func:`app.run_app`).

Only :mod:`workbench.cli` imports this package; :mod:`workbench.core` never does.
"""
