"""Hidden neurons of an ensemble, all layers side by side.

The analyses of this lab treat a network as its set of hidden ReLU neurons: layer
l's unit j becomes column ``offset_l + j`` of one (seed, batch, n_hidden) tensor,
named ``"L{l}.{j}"`` (layers 1-based, units 0-based).
"""

from __future__ import annotations

import torch
from torch import Tensor

from workbench.core.ensemble import EnsembleMLP, layer_activations
from workbench.core.models.mlp import forward_with_cache

__all__ = ["hidden_activations", "neuron_names"]


def hidden_activations(model: EnsembleMLP, x: Tensor, *, differentiable: bool = False) -> Tensor:
    """Post-activations of every hidden layer, concatenated along the unit axis.

    Args:
        model: The ensemble (its output layer is left out).
        x: Inputs, (batch, d_in) shared by all seeds or (seed, batch, d_in).
        differentiable: Keep the autograd graph so gradients flow back to ``x``
            (activation maximisation); otherwise computed without one.

    Returns:
        (seed, batch, n_hidden) with n_hidden = Σ hidden widths.
    """
    if differentiable:
        posts = list(forward_with_cache(model, x).post[:-1])
    else:
        posts = [layer.post for layer in layer_activations(model, x)[:-1]]
    return torch.cat(posts, dim=2)  # (seed, batch, n_hidden)


def neuron_names(sizes: tuple[int, ...]) -> list[str]:
    """Names of the hidden neurons, e.g. ``["L1.0", "L1.1", "L2.0"]``.

    Args:
        sizes: Layer widths including input and output, ``(d_in, *hidden, d_out)``
            (:attr:`EnsembleMLP.sizes`).
    """
    return [
        f"L{layer}.{unit}" for layer, width in enumerate(sizes[1:-1], 1) for unit in range(width)
    ]
