"""Per-seed optimisers for a flat ``(seed, n_params)`` parameter buffer.

Each row is one seed with its own optimiser state (moments and step count), updated
by a few whole-buffer tensor ops rather than one optimiser object per seed. A
boolean ``active: (seed,)`` mask freezes seeds exactly: a frozen seed's parameters,
moments and step count are left bit-for-bit unchanged, even when its gradient is
NaN or infinite. The mask lives on the device, so freezing needs no host sync.

The update rules match ``torch.optim.SGD`` and ``torch.optim.Adam`` (no weight
decay) step for step, which the tests check.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

__all__ = ["OPTIMIZERS", "BatchedAdam", "BatchedOptimizer", "BatchedSGD", "make_optimizer"]

OPTIMIZERS = ("adam", "sgd")


class BatchedOptimizer(Protocol):
    """Updates ``params: (seed, n_params)`` in place, one independent optimiser per row."""

    params: Tensor

    def step(self, grad: Tensor, active: Tensor) -> None:
        """Apply one update to the rows where ``active`` is true.

        Args:
            grad: ``(seed, n_params)`` gradient of each seed's own loss.
            active: ``(seed,)`` bool; false rows are left exactly as they are.
        """
        ...


class BatchedSGD:
    """Stochastic gradient descent with optional heavy-ball momentum, per seed.

    With learning rate η and momentum μ, for each active seed::

        m ← μ m + g            (m = g on the first step, as torch.optim.SGD)
        θ ← θ - η m

    Args:
        params: ``(seed, n_params)``, updated in place.
        lr: Learning rate η > 0.
        momentum: μ in [0, 1); 0 is plain gradient descent.
    """

    def __init__(self, params: Tensor, lr: float, momentum: float = 0.0) -> None:
        _check_params(params)
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.buffer = torch.zeros_like(params) if momentum > 0 else None
        # μ and 1 as tensors of the parameters' dtype (a Python float in torch.where
        # would be rounded to the default dtype first).
        self._momentum = torch.tensor(momentum, dtype=params.dtype, device=params.device)
        self._one = torch.ones((), dtype=params.dtype, device=params.device)

    def step(self, grad: Tensor, active: Tensor) -> None:
        """See :meth:`BatchedOptimizer.step`."""
        row = active.unsqueeze(1)  # (seed, 1)
        grad = torch.where(row, grad, 0.0)  # a frozen seed's NaN gradient must not leak
        direction = grad
        if self.buffer is not None:
            # m ← μ m + g; a zero gradient and factor 1 leave a frozen row unchanged.
            # On the first step m = 0, so m = g exactly as torch.optim.SGD sets it.
            factor = torch.where(row, self._momentum, self._one)
            self.buffer.mul_(factor).add_(grad)
            direction = self.buffer
        self.params.copy_(torch.where(row, self.params - self.lr * direction, self.params))


class BatchedAdam:
    """Adam (Kingma & Ba 2015), one independent state per seed.

    For each active seed with gradient g and its own step count t::

        m ← β₁ m + (1-β₁) g
        v ← β₂ v + (1-β₂) g²
        θ ← θ - η/(1-β₁ᵗ) · m / (√v / √(1-β₂ᵗ) + ε)

    the form ``torch.optim.Adam`` uses. Frozen seeds keep t, so their bias
    corrections resume where they stopped.

    Args:
        params: ``(seed, n_params)``, updated in place.
        lr: Learning rate η > 0.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε > 0, added to the denominator for stability.
    """

    def __init__(
        self,
        params: Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        _check_params(params)
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must each be in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.params = params
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.exp_avg = torch.zeros_like(params)  # m: (seed, n_params)
        self.exp_avg_sq = torch.zeros_like(params)  # v: (seed, n_params)
        self.steps = torch.zeros(params.shape[0], 1, dtype=params.dtype, device=params.device)

    def step(self, grad: Tensor, active: Tensor) -> None:
        """See :meth:`BatchedOptimizer.step`."""
        beta1, beta2 = self.betas
        row = active.unsqueeze(1)  # (seed, 1) bool
        on = row.to(self.params.dtype)  # 1.0 active, 0.0 frozen
        # 1. A frozen seed sees g = 0 and lerp weight 0, which leaves its moments
        #    exactly unchanged (m + 0·(0 - m) = m); its NaN gradient never enters.
        grad = torch.where(row, grad, 0.0)
        self.steps.add_(on)
        self.exp_avg.lerp_(grad, on * (1.0 - beta1))
        self.exp_avg_sq.lerp_(grad * grad, on * (1.0 - beta2))
        # 2. Per-seed bias corrections from each seed's own step count (clamped so a
        #    seed frozen before its first step divides by a finite number).
        t = self.steps.clamp(min=1.0)
        step_size = self.lr / (1.0 - beta1**t)  # (seed, 1)
        inv_sqrt_bc2 = (1.0 - beta2**t).rsqrt()  # (seed, 1)
        denom = self.exp_avg_sq.sqrt().mul_(inv_sqrt_bc2).add_(self.eps)
        update = self.exp_avg.div(denom).mul_(step_size)
        # 3. `where`, not a multiply by the mask: 0 · NaN would poison a frozen seed.
        self.params.copy_(torch.where(row, self.params - update, self.params))


def make_optimizer(
    name: str,
    params: Tensor,
    lr: float,
    *,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> BatchedOptimizer:
    """Build a batched optimiser by name (one of :data:`OPTIMIZERS`).

    Raises:
        ValueError: If the name is unknown.
    """
    if name == "adam":
        return BatchedAdam(params, lr, betas=betas, eps=eps)
    if name == "sgd":
        return BatchedSGD(params, lr, momentum=momentum)
    raise ValueError(f"optimizer {name!r} is unknown; use one of {OPTIMIZERS}")


def _check_params(params: Tensor) -> None:
    if params.ndim != 2 or not params.is_floating_point():
        raise ValueError(
            f"params must be a floating (seed, n_params) tensor, got {params.dtype} "
            f"{tuple(params.shape)}"
        )
