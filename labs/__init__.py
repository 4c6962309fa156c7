"""Built-in labs. Installed as ``workbench_labs``; each registers through the
``workbench.labs`` entry-point group exactly as a third-party lab would."""
