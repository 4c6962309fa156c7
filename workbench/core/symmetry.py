"""Symmetries of MLP ensembles: hidden-unit permutations, ReLU rescaling, tanh sign flips.

For an MLP ``pre_l = a_{l-1} W_lᵀ + b_l``, ``a_l = φ(pre_l)`` (see
:mod:`workbench.core.models.mlp`), three families of parameter changes leave the function
``x ↦ output`` exactly unchanged:

* **Permutations.** Reordering hidden layer l's units by a permutation π (new unit i is old
  unit π(i)) and reordering the matching columns of ``W_{l+1}``::

      W_l' = W_l[π, :],   b_l' = b_l[π],   W_{l+1}' = W_{l+1}[:, π]

* **ReLU rescaling.** ReLU is positively homogeneous, relu(c z) = c relu(z) for c > 0, so
  scaling unit i's incoming weights and bias by c and its outgoing weights by 1/c is a
  symmetry (Neyshabur et al. 2015, "Path-SGD").
* **tanh sign flips.** tanh is odd, tanh(−z) = −tanh(z), so negating unit i's incoming
  weights, bias and outgoing weights is a symmetry (Chen, Lu & Hecht-Nielsen 1993).

The normalisations pick one representative of each rescaling/sign orbit, so that weight
matching compares like with like. Everything is batched over the leading ``seed`` axis (seeds
of an ensemble, or pairs of nets); there is no Python loop over it.

Permutations are ``(seed, d_l)`` int64 tensors, one per hidden layer (layers 1 .. L−1; the
input and output units are never permuted).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from workbench.core.models.mlp import EnsembleMLP

__all__ = [
    "NORMALIZATIONS",
    "compose_permutations",
    "identity_permutations",
    "invert_permutations",
    "normalize",
    "normalize_relu_scale",
    "normalize_tanh_sign",
    "permute_hidden",
    "random_permutations",
    "rescale_hidden",
]

NORMALIZATIONS = ("none", "relu-scale", "tanh-sign")
"""What :func:`normalize` can remove before matching."""


def _layers(model: EnsembleMLP) -> tuple[list[Tensor], list[Tensor]]:
    """Contiguous copies of every layer's ``weight: (seed, d_out, d_in)`` and ``bias``."""
    return (
        [layer.weight.clone() for layer in model.layers],
        [layer.bias.clone() for layer in model.layers],
    )


def _rebuild(
    model: EnsembleMLP, weights: Sequence[Tensor], biases: Sequence[Tensor]
) -> EnsembleMLP:
    return EnsembleMLP.from_layers(weights, biases, model.activation, model.seeds)


def _check_perms(model: EnsembleMLP, perms: Sequence[Tensor]) -> None:
    hidden = model.sizes[1:-1]
    if len(perms) != len(hidden):
        raise ValueError(f"need one permutation per hidden layer ({len(hidden)}), got {len(perms)}")
    for li, (p, d) in enumerate(zip(perms, hidden, strict=True), start=1):
        if tuple(p.shape) != (model.n_seeds, d):
            raise ValueError(
                f"permutation of hidden layer {li} must be ({model.n_seeds}, {d}), "
                f"got {tuple(p.shape)}"
            )


def identity_permutations(model: EnsembleMLP) -> list[Tensor]:
    """The identity permutation of every hidden layer, ``(seed, d_l)`` each."""
    return [
        torch.arange(d, device=model.device).expand(model.n_seeds, d).clone()
        for d in model.sizes[1:-1]
    ]


def random_permutations(model: EnsembleMLP, generator: torch.Generator) -> list[Tensor]:
    """Independent uniform permutations of every hidden layer of every seed.

    Args:
        model: Gives the number of seeds and the hidden widths.
        generator: A CPU generator; the draws do not depend on the model's device.

    Returns:
        One ``(seed, d_l)`` int64 tensor per hidden layer, on the model's device.
    """
    out = []
    for d in model.sizes[1:-1]:
        keys = torch.rand(model.n_seeds, d, generator=generator)
        out.append(keys.argsort(dim=1).to(model.device))  # argsort of iid keys is uniform
    return out


def invert_permutations(perms: Sequence[Tensor]) -> list[Tensor]:
    """π⁻¹ for each ``(seed, d)`` permutation: ``π⁻¹[π[i]] = i``."""
    return [p.argsort(dim=1) for p in perms]


def compose_permutations(first: Sequence[Tensor], then: Sequence[Tensor]) -> list[Tensor]:
    """The permutation that applies ``first`` and then ``then``.

    With ``permute_hidden(permute_hidden(m, first), then) == permute_hidden(m, composed)``:
    new unit i is unit ``then[i]`` of the first result, which is old unit ``first[then[i]]``.
    """
    return [f.gather(1, t) for f, t in zip(first, then, strict=True)]


def permute_hidden(model: EnsembleMLP, perms: Sequence[Tensor]) -> EnsembleMLP:
    """Reorder the hidden units of every seed: new unit i of layer l is old unit ``perms[l][i]``.

    ``W_l' = W_l[π_l, :][:, π_{l-1}]``, ``b_l' = b_l[π_l]`` with π_0 and π_L the identity; the
    function computed is unchanged (to float rounding: the sums are the same terms in another
    order).

    Args:
        model: ``n_seeds`` nets.
        perms: One ``(seed, d_l)`` int64 permutation per hidden layer.

    Returns:
        A new ensemble with the permuted parameters.
    """
    _check_perms(model, perms)
    weights, biases = _layers(model)
    for li, p in enumerate(perms):
        # Rows of layer l (its units) and bias; columns of layer l + 1 (its inputs).
        w = weights[li]
        weights[li] = w.gather(1, p.unsqueeze(2).expand(-1, -1, w.shape[2]))
        biases[li] = biases[li].gather(1, p)
        nxt = weights[li + 1]
        weights[li + 1] = nxt.gather(2, p.unsqueeze(1).expand(-1, nxt.shape[1], -1))
    return _rebuild(model, weights, biases)


def rescale_hidden(model: EnsembleMLP, scales: Sequence[Tensor]) -> EnsembleMLP:
    """Scale each hidden unit's incoming weights and bias by c and its outgoing weights by 1/c.

    A symmetry of ReLU nets for c > 0 (relu(c z) = c relu(z)); for tanh and gelu it changes the
    function.

    Args:
        model: The nets.
        scales: One ``(seed, d_l)`` tensor of positive factors per hidden layer.
    """
    _check_perms(model, scales)
    weights, biases = _layers(model)
    for li, c in enumerate(scales):
        c = c.to(weights[li].dtype)
        weights[li] = weights[li] * c.unsqueeze(2)
        biases[li] = biases[li] * c
        weights[li + 1] = weights[li + 1] / c.unsqueeze(1)
    return _rebuild(model, weights, biases)


def normalize_relu_scale(model: EnsembleMLP) -> EnsembleMLP:
    """Remove the ReLU rescaling symmetry: every hidden unit's incoming vector gets unit norm.

    Layer by layer from the input, each unit's incoming vector ``v_i = [W_l[i, :], b_l[i]]``
    (after the scales moved into it from the layer below) is divided by ``c_i = ‖v_i‖₂`` and
    ``W_{l+1}[:, i]`` multiplied by ``c_i``; the output layer takes the remaining scale. A unit
    with ``c_i = 0`` (never active, it outputs 0) is left as it is. Any rescaled copy of a net
    (:func:`rescale_hidden` with c > 0) normalises to the same parameters.

    Raises:
        ValueError: If the nets are not ReLU nets.
    """
    if model.activation != "relu":
        raise ValueError(f"ReLU rescaling is a symmetry of relu nets only, not {model.activation}")
    weights, biases = _layers(model)
    for li in range(model.n_layers - 1):
        norm = torch.sqrt(weights[li].square().sum(dim=2) + biases[li].square())  # (seed, d_l)
        c = torch.where(norm > 0, norm, torch.ones_like(norm))
        weights[li] = weights[li] / c.unsqueeze(2)
        biases[li] = biases[li] / c
        weights[li + 1] = weights[li + 1] * c.unsqueeze(1)
    return _rebuild(model, weights, biases)


def normalize_tanh_sign(model: EnsembleMLP) -> EnsembleMLP:
    """Remove the tanh sign symmetry: flip each hidden unit so that its bias is >= 0.

    With ``s_i = sign(b_l[i])`` (and +1 for a zero bias), unit i's incoming weights, bias and
    outgoing weights are multiplied by ``s_i``. Any sign-flipped copy of a net with non-zero
    biases normalises to the same parameters.

    Raises:
        ValueError: If the nets are not tanh nets.
    """
    if model.activation != "tanh":
        raise ValueError(f"the sign flip is a symmetry of tanh nets only, not {model.activation}")
    weights, biases = _layers(model)
    for li in range(model.n_layers - 1):
        s = torch.where(biases[li] < 0, -1.0, 1.0).to(weights[li].dtype)  # (seed, d_l)
        weights[li] = weights[li] * s.unsqueeze(2)
        biases[li] = biases[li] * s
        weights[li + 1] = weights[li + 1] * s.unsqueeze(1)
    return _rebuild(model, weights, biases)


def normalize(model: EnsembleMLP, kind: str) -> EnsembleMLP:
    """Apply normalisation ``kind`` (one of :data:`NORMALIZATIONS`); ``none`` returns ``model``."""
    if kind == "none":
        return model
    if kind == "relu-scale":
        return normalize_relu_scale(model)
    if kind == "tanh-sign":
        return normalize_tanh_sign(model)
    raise ValueError(f"normalisation {kind!r} is unknown; use one of {NORMALIZATIONS}")
