"""An ensemble MLP's training loss as a batched function of parameter rows.

The samplers and basin searches (:mod:`workbench.core.sgld`, :mod:`workbench.core.basin_volume`)
evaluate the loss of many perturbed copies of every seed's net at once: rows of flat
parameters ``w: (rows, P)`` in the :class:`~workbench.core.models.mlp.EnsembleMLP` layout,
each row belonging to one seed, whose targets it is scored against. One call is one batched
forward pass (and one exact batched backward pass for the gradient), whatever the rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor

from workbench.core.basin_volume import BatchLoss
from workbench.core.ensemble import per_seed_loss
from workbench.core.models.mlp import EnsembleMLP, backward, forward_with_cache
from workbench.core.sgld import LossGrad

__all__ = ["layer_blocks", "mlp_batch_loss", "mlp_loss_grad"]


def layer_blocks(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """``[start, stop)`` of every layer's weight and of every bias in the flat layout."""
    out = []
    offset = 0
    for d_in, d_out in itertools.pairwise(sizes):
        out.append((offset, offset + d_in * d_out))
        out.append((offset + d_in * d_out, offset + d_out * (d_in + 1)))
        offset += d_out * (d_in + 1)
    return out


def _targets(targets: Tensor, seed_of_row: Tensor) -> Tensor:
    """``(rows, batch, d_out)`` targets of each row (a view when every seed shares them)."""
    if targets.ndim == 2:
        return targets
    return targets.index_select(0, seed_of_row)


def mlp_loss_grad(
    sizes: Sequence[int], activation: str, x: Tensor, targets: Tensor, loss: str
) -> LossGrad:
    """The batched loss and exact gradient ``(w, seed_of_row) → (loss (rows,), grad (rows, P))``.

    Args:
        sizes: ``(d_in, *hidden, d_out)``.
        activation: Hidden nonlinearity.
        x: ``(batch, d_in)`` inputs shared by all rows.
        targets: ``(batch, d_out)`` shared, or ``(seed, batch, d_out)`` per seed.
        loss: ``mse`` or ``bce-with-logits`` (the training loss, a mean per row).
    """
    shape = tuple(int(s) for s in sizes)

    def loss_grad(w: Tensor, seed_of_row: Tensor) -> tuple[Tensor, Tensor]:
        model = EnsembleMLP(w, shape, activation)
        cache = forward_with_cache(model, x)
        value, grad_out = per_seed_loss(cache.output, _targets(targets, seed_of_row), loss)
        return value, backward(model, cache, grad_out)

    return loss_grad


def mlp_batch_loss(
    sizes: Sequence[int], activation: str, x: Tensor, targets: Tensor, loss: str
) -> BatchLoss:
    """The batched loss alone ``(w, seed_of_row) → (rows,)`` (no backward pass)."""
    shape = tuple(int(s) for s in sizes)

    def batch_loss(w: Tensor, seed_of_row: Tensor) -> Tensor:
        model = EnsembleMLP(w, shape, activation)
        out = forward_with_cache(model, x).output
        return per_seed_loss(out, _targets(targets, seed_of_row), loss)[0]

    return batch_loss
