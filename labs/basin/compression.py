"""Compression of the same nets: each layer's entropy and its MI with the input, in bits.

The sprint's measures (seed 000), computed here on the very nets whose broadness is measured:
every layer's activations on all 2^n inputs are discretized (two inputs share a code when
their mean |difference| per unit is at most ``tol``, :func:`workbench.measures.discretize_batch`)
and ``H(layer) = -Σ_c p_c log₂ p_c`` over the uniform inputs. Each input is its own code, so
``I(X; layer) = H(X) + H(layer) - H(X, layer) = H(layer)`` exactly (the layer is a function of
X): the two compression measures are one number, and the analysis tests it once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import EnsembleMLP, layer_activations
from workbench.measures import discretize_batch

__all__ = ["batched_entropy", "layer_entropies"]


def batched_entropy(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Entropy in bits of each row of ``codes: (rows, n)`` (codes 0..n-1), without a row loop.

    Counts come from one ``bincount`` over ``row·n + code``; ``H = -Σ (c/n) log₂(c/n)``.
    """
    rows, n = codes.shape
    counts = np.bincount((codes + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n)
    p = counts.reshape(rows, n) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(-np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1))


def layer_entropies(model: EnsembleMLP, x: torch.Tensor, tol: float) -> npt.NDArray[np.float64]:
    """``(seed, layer)`` H(layer) in bits for every layer (hidden layers, then the output)."""
    acts = layer_activations(model, x)
    out = [batched_entropy(np.asarray(discretize_batch(a.post, tol))) for a in acts]
    return np.stack(out, axis=1)
