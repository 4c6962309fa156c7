"""Public measures: ``from workbench.measures import entropy, linear_cka, ...``.

A thin facade over :mod:`workbench.core.measures`; notebooks, labs and tests import from here,
whatever modules sit beneath. Information is in bits; every function takes numpy arrays or
torch tensors on CPU or CUDA and returns floats or numpy arrays.
"""

from __future__ import annotations

from workbench.core.measures import *  # noqa: F403  (the facade re-exports everything)
from workbench.core.measures import __all__ as __all__
