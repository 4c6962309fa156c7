"""The TUI's own widgets: plots, heatmaps, the config form, the runs table, step results."""
