"""Small, real, completed projects shipped with workbench (installed as ``workbench_samples``).

``default/`` holds one finished run of each built-in lab, made by
``python scripts/make_sample_project.py`` with the project's own commands, so it
can be regenerated at any time. The TUI offers it on first launch so a new user
sees real results at once; tests use it as a fixture.
"""
