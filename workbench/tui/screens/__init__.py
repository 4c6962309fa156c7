"""The TUI's screens: project home, lab stepper, live training, run detail, arrays, compare."""
