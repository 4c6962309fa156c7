"""The headless core: measures, models, the ensemble engine, the run store and
the lab contract. Nothing under this package imports Textual, plotext, Rich or
the built-in labs, so all of it works from a notebook or a script."""
