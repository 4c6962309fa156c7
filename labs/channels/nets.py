"""Ensembles of the sweep, their layers' exact information, and their Jacobians.

Every measure here is over the uniform distribution on all 2^n binary inputs. A hidden layer is
a deterministic function of the input, so I(X; layer) = H(layer), and H is exact once we say
when two activation vectors are "the same": at resolution r, two inputs share a code when their
activations, in units of the layer's standard deviation s, differ by at most r per unit (mean
absolute difference; chained, see :func:`workbench.measures.discretize_batch`). Dividing by s
makes the measure blind to a layer's scale, which carries no information: without it a deep
net whose activations shrink at init would look "scarce" only because it is small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from workbench.core.ensemble import (
    EnsembleMLP,
    TrainConfig,
    TrainProgress,
    ensemble_from_state_dict,
    init_ensemble,
    layer_activations,
    train_ensemble,
)
from workbench.core.models.mlp import LEAKY_SLOPE
from workbench.measures import discretize_batch, entropy

__all__ = [
    "build_ensemble",
    "hidden_layers",
    "jacobian_gram",
    "layer_information",
    "train",
]

FloatArray = npt.NDArray[np.float64]


def build_ensemble(
    width: int,
    depth: int,
    activation: str,
    scale: float,
    seeds: Sequence[int],
    d_in: int,
    d_out: int,
    device: torch.device | str = "cpu",
) -> EnsembleMLP:
    """``depth`` hidden layers of ``width`` units, weights at ``scale`` × the nn.Linear default.

    Only the weights are scaled, not the biases: the scale is the gain of each linear map.
    """
    config = TrainConfig(widths=(width,) * depth, activation=activation)
    model = init_ensemble(config, seeds, d_in, d_out, device)
    if scale == 1.0:
        return model
    tensors = {k: v * scale if k.endswith(".weight") else v for k, v in model.state_dict().items()}
    return ensemble_from_state_dict(tensors, activation, model.seeds).to(device)


def hidden_layers(model: EnsembleMLP, x: Tensor) -> list[Tensor]:
    """Post-activations of every hidden layer, each ``(seed, batch, width)``."""
    return [layer.post for layer in layer_activations(model, x)[:-1]]


def layer_information(acts: Tensor, resolution: float) -> FloatArray:
    """I(X; layer) = H(layer) in bits, per seed, for a layer over all (uniform) inputs.

    Args:
        acts: ``(seed, batch, units)`` activations on every input once.
        resolution: r >= 0, in units of the layer's standard deviation (see the module).

    Returns:
        ``(seed,)`` bits; a constant layer (s = 0) has one code and 0 bits.
    """
    a = acts.detach().to(torch.float64)
    centred = a - a.mean(dim=1, keepdim=True)
    s = centred.square().mean(dim=(1, 2)).sqrt()  # (seed,) pooled standard deviation
    scaled = centred / torch.where(s > 0, s, torch.ones_like(s))[:, None, None]
    codes = discretize_batch(scaled, tol=resolution)  # (seed, batch)
    return np.array([entropy(row) for row in codes], dtype=np.float64)


def _derivative(pre: Tensor, post: Tensor, activation: str) -> Tensor:
    """φ'(pre) elementwise, for the activations of the sweep."""
    if activation == "relu":
        return (pre > 0).to(pre.dtype)
    if activation == "tanh":
        return 1.0 - post.square()
    if activation == "leaky-relu":
        return torch.where(pre > 0, torch.ones_like(pre), torch.full_like(pre, LEAKY_SLOPE))
    if activation == "linear":
        return torch.ones_like(pre)
    raise ValueError(f"no derivative for activation {activation!r}")


def jacobian_gram(model: EnsembleMLP, x: Tensor) -> list[Tensor]:
    """``E_x[J_l J_lᵀ]`` of every hidden layer's layer-to-layer Jacobian.

    ``J_l(x) = ∂h_l/∂h_{l-1} = diag(φ'(pre_l(x))) W_l``, so with Φ the ``(batch, d_l)`` matrix
    of derivatives, ``E_x[J Jᵀ] = (W Wᵀ) ⊙ (Φᵀ Φ / batch)``: no per-input Jacobian is formed.
    Its eigenvalues are the mean squared singular values of J along its eigenvectors.

    Returns:
        One ``(seed, d_l, d_l)`` float64 tensor per hidden layer.
    """
    layers = layer_activations(model, x)[:-1]
    state = model.state_dict()
    out = []
    for i, layer in enumerate(layers):
        w = state[f"layers.{i}.weight"].to(torch.float64)  # (seed, d_l, d_{l-1})
        phi = _derivative(layer.pre, layer.post, model.activation).to(torch.float64)
        second = phi.transpose(1, 2) @ phi / phi.shape[1]  # (seed, d_l, d_l)
        out.append((w @ w.transpose(1, 2)) * second)
    return out


def train(
    model: EnsembleMLP,
    x: Tensor,
    y: Tensor,
    steps: int,
    lr: float,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Train every seed in place, full batch, Adam, MSE (the ensemble engine's defaults)."""
    config = TrainConfig(
        widths=model.sizes[1:-1],
        activation=model.activation,
        steps=steps,
        lr=lr,
        log_every=max(1, steps // 10),
    )

    def report(progress: TrainProgress) -> None:
        if on_progress is not None:
            on_progress(progress.step, progress.total_steps)

    train_ensemble(model, x, y, config, callback=report)
