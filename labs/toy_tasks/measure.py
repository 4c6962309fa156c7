"""Measuring one ensemble's layers at one setting: information and the nets' own precision.

:func:`measure_layers` turns the post-activations of every layer of every net into codes
(:mod:`.grouping`) and reports, per net and layer, the entropy, the MI with the input and with
the target, the tolerance actually used and the precision the nets reach there:

* ``residual``: the output layer's largest miss ``max_i |ŷ_i - y_i|`` (MSE only, NaN in hidden
  layers and for BCE logits);
* ``resolution``: float32's resolution of the layer;
* ``precision = max(residual, resolution)``; a net's layer is *below precision* when
  ``tol_eff < precision``, and a layer is flagged "tolerance below the nets' precision" when at
  least :data:`FLAG_FRACTION` of the nets are;
* ``min_code_distance``: the smallest distance between two inputs with different codes, shown
  next to ``tol_eff`` (barely above it means the partition sits on a continuum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import EnsembleMLP

from .analysis import input_mutual_information
from .grouping import (
    float_resolution,
    layer_entropies,
    min_code_distance,
    output_residual,
    scaled_codes,
    target_mutual_information,
)
from .training import layer_posts

__all__ = ["FLAG_FRACTION", "LayerMeasures", "measure_layers", "measure_posts"]

#: A layer is flagged when at least this fraction of its nets have tol_eff < precision (a
#: majority: one net at its limit does not make the layer's numbers residue).
FLAG_FRACTION = 0.5

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LayerMeasures:
    """One ensemble at one setting; every array is ``(seed, layer)`` unless noted.

    Attributes:
        codes: ``(seed, layer, n_inputs)``.
        entropy: H(layer) in bits.
        mi_input: I(X; layer) in bits (= H(layer): the layer is a function of uniform X).
        mi_target: I(layer; y) in bits.
        tol_eff: The absolute tolerance used.
        residual: Output residual (NaN except the output layer of MSE nets).
        resolution: float32 resolution of the layer.
        min_distance: Smallest distance between inputs with different codes.
    """

    codes: IntArray
    entropy: FloatArray
    mi_input: FloatArray
    mi_target: FloatArray
    tol_eff: FloatArray
    residual: FloatArray
    resolution: FloatArray
    min_distance: FloatArray

    @property
    def precision(self) -> FloatArray:
        """``max(residual, resolution)`` per net and layer."""
        return np.fmax(self.residual, self.resolution)

    @property
    def below_precision(self) -> npt.NDArray[np.bool_]:
        """``(seed, layer)``: tol_eff < precision."""
        return np.asarray(self.tol_eff < self.precision)

    def flagged(self) -> npt.NDArray[np.bool_]:
        """``(layer,)``: at least FLAG_FRACTION of the nets are below precision."""
        if self.entropy.shape[0] == 0:
            return np.zeros(self.entropy.shape[1], dtype=bool)
        return np.asarray(self.below_precision.mean(axis=0) >= FLAG_FRACTION)


def measure_posts(
    posts: Sequence[torch.Tensor],
    output_residuals: FloatArray,
    target: npt.ArrayLike,
    *,
    tol: float,
    rule: str,
    mode: str,
    distances: bool = True,
) -> LayerMeasures:
    """Measure given per-layer activations ``(seed, n_inputs, d_l)``; see :func:`measure_layers`.

    Args:
        posts: Per layer, ``(seed, n_inputs, d_l)``.
        output_residuals: ``(seed,)`` residual of the last layer (NaN: none).
        target: ``(n_inputs,)`` 0/1.
        tol, rule, mode: The grouping setting.
        distances: Also compute the smallest distance between codes (O(n²) per net; the
            robustness sweep skips it).
    """
    grouped = scaled_codes(posts, tol, rule=rule, mode=mode)
    n_seeds, n_layers = grouped.tol_eff.shape
    residual = np.full((n_seeds, n_layers), np.nan)
    residual[:, -1] = output_residuals
    resolution = np.stack([float_resolution(p) for p in posts], axis=1)
    if distances:
        min_distance = np.stack(
            [min_code_distance(p, grouped.codes[:, i]) for i, p in enumerate(posts)],
            axis=1,
        )
    else:
        min_distance = np.full((n_seeds, n_layers), np.nan)
    return LayerMeasures(
        codes=grouped.codes,
        entropy=layer_entropies(grouped.codes),
        mi_input=input_mutual_information(grouped.codes),
        mi_target=target_mutual_information(grouped.codes, target),
        tol_eff=grouped.tol_eff,
        residual=residual,
        resolution=resolution,
        min_distance=min_distance,
    )


def measure_layers(
    model: EnsembleMLP,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    loss: str,
    tol: float,
    rule: str,
    mode: str,
    distances: bool = True,
) -> LayerMeasures:
    """Every layer of every net of ``model`` on the inputs ``x: (n_inputs, n_bits)``.

    Args:
        model: The ensemble (trained nets, a snapshot, or the random-init baseline).
        x: All inputs.
        target: ``(n_inputs,)`` 0/1 targets.
        loss: The training loss (decides whether the output has a residual).
        tol, rule, mode: The grouping setting (:func:`.grouping.scaled_codes`).
        distances: Also compute the smallest distance between codes.
    """
    posts = layer_posts(model, x)
    residual = output_residual(posts[-1], target, loss)
    return measure_posts(
        posts, residual, target.numpy(), tol=tol, rule=rule, mode=mode, distances=distances
    )
