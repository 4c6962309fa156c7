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

__all__ = ["ablation_effect", "hidden_activations", "neuron_names"]


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


def ablation_effect(model: EnsembleMLP, x: Tensor) -> Tensor:
    """How much each hidden neuron matters to the output: the mean-ablation effect.

    Neuron u is replaced by its mean activation over the inputs, h_u(x) ← mean_x h_u,
    the layers above it are recomputed, and the effect is the root-mean-square change
    of the output,

        E_u = sqrt( mean_x ‖f(x) − f_{u ← mean}(x)‖² / d_out ),

    in the output's units. A neuron that is alive but unused (zero outgoing weights,
    or only feeding dead units) has E_u = 0, so it can be set aside as no part of
    the network's strategy. Neurons are ablated one at a time, all seeds together.

    Args:
        model: The ensemble.
        x: Inputs (batch, d_in), shared by all seeds (e.g. the evaluation grid).

    Returns:
        (seed, n_hidden) float64, neurons in :func:`hidden_activations` order.
    """
    with torch.no_grad():
        posts = [layer.post for layer in layer_activations(model, x)]
        output = posts[-1]  # (seed, batch, d_out)
        effects: list[Tensor] = []
        for layer in range(model.n_layers - 1):
            # The layers above this one, as an ensemble of their own: the same hidden
            # activation in between and the same linear output layer on top.
            above = model.layers[layer + 1 :]
            tail = EnsembleMLP.from_layers(
                [p.weight for p in above], [p.bias for p in above], model.activation
            )
            hidden = posts[layer]  # (seed, batch, d_layer)
            mean = hidden.mean(dim=1)  # (seed, d_layer)
            for unit in range(hidden.shape[2]):
                ablated = hidden.clone()
                ablated[:, :, unit] = mean[:, unit].unsqueeze(1)
                change = tail(ablated) - output  # (seed, batch, d_out)
                effects.append(change.to(torch.float64).pow(2).mean(dim=(1, 2)).sqrt())
    return torch.stack(effects, dim=1)  # (seed, n_hidden)
