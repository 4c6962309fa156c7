"""Per-seed optimisers for a flat ``(seed, n_params)`` parameter buffer.

Each row is one seed with its own optimiser state (moments and step count), updated
by a few whole-buffer tensor ops rather than one optimiser object per seed. A
boolean ``active: (seed,)`` mask freezes seeds: a frozen row's parameters, moments
and step count are left bit-for-bit unchanged. The mask lives on the device, so
freezing needs no host sync.

How freezing stays exact without ``torch.where`` on the whole buffer (a bool-mask
select costs ~7x a multiply on CPU): the gradient is multiplied by the 0/1 mask and
its non-finite entries zeroed (``nan_to_num``), so a frozen row's gradient is exactly
0; then every per-row update is scaled by the mask in a form that returns the old
value exactly when the scale is 0, e.g. ``m + 0·(0 - m) = m`` for finite m. All
state stays finite as long as the gradients of *active* rows are finite with finite
squares, which
:func:`workbench.core.ensemble.train_ensemble` guarantees by flagging a seed as
diverged, before its update, when its loss or its squared gradient norm is not
finite. A non-finite entry in an active row's gradient is treated as 0.

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
        on = active.unsqueeze(1).to(self.params.dtype)  # (seed, 1): 1 active, 0 frozen
        grad = _masked_gradient(grad, on)
        if self.buffer is None:
            self.params.add_(grad, alpha=-self.lr)  # θ - η·0 = θ for a frozen row
            return
        # m ← μ m + g for active rows; factor 1 and g = 0 leave a frozen row exact.
        # On the first step m = 0, so m = g exactly as torch.optim.SGD sets it.
        factor = torch.where(active.unsqueeze(1), self._momentum, self._one)
        self.buffer.mul_(factor).add_(grad)
        self.params.addcmul_(self.buffer, on, value=-self.lr)


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
        self.steps = torch.zeros(params.shape[0], dtype=torch.long, device=params.device)
        self._calls = 0
        self._corrections = self._correction_table(64)
        self._tiny = torch.finfo(params.dtype).tiny

    def step(self, grad: Tensor, active: Tensor) -> None:
        """See :meth:`BatchedOptimizer.step`."""
        beta1, beta2 = self.betas
        on = active.unsqueeze(1).to(self.params.dtype)  # (seed, 1): 1 active, 0 frozen
        # 1. Moments: g = 0 and lerp weight 0 leave a frozen row exactly
        #    (m + 0·(0 - m) = m), and its g² cannot overflow.
        grad = _masked_gradient(grad, on)
        self.steps.add_(active)
        self.exp_avg.lerp_(grad, on * (1.0 - beta1))
        self.exp_avg_sq.lerp_(grad * grad, on * (1.0 - beta2))
        # 2. Per-seed bias corrections, looked up by each seed's own step count t
        #    (one gather instead of a handful of tiny pow/div kernels per step).
        self._calls += 1
        if self._calls >= self._corrections.shape[0]:
            self._corrections = self._correction_table(2 * self._corrections.shape[0])
        coeffs = self._corrections.index_select(0, self.steps)  # (seed, 2)
        step_size, eps = coeffs[:, :1], coeffs[:, 1:]
        # 3. θ ← θ - (η/bc1)·m / (√v/√bc2 + ε), written as θ - (η√bc2/bc1)·m / (√v + ε√bc2)
        #    (one whole-buffer op fewer), with the step scaled by 0 for frozen rows.
        #    v is floored at the smallest normal float first: CPU sqrt is ~2x slower on
        #    exact zeros (dead units give many), and √tiny ≈ 1e-19 is far below
        #    ε√bc2 ≥ 3e-10, so the result is unchanged at float32 precision.
        denom = self.exp_avg_sq.clamp_min(self._tiny).sqrt_().add_(eps)
        self.params.addcdiv_(self.exp_avg * (step_size * -on), denom)

    def _correction_table(self, size: int) -> Tensor:
        """Rows t = 0 .. size-1 of [η√bc2/bc1, ε√bc2], bc_i = 1 - βᵢᵗ, in float64 then cast.

        Row 0 (a seed frozen before its first step, never updated) repeats row 1
        so it stays finite.
        """
        beta1, beta2 = self.betas
        t = torch.arange(size, dtype=torch.float64).clamp(min=1.0)
        sqrt_bc2 = (1.0 - beta2**t).sqrt()
        table = torch.stack([self.lr * sqrt_bc2 / (1.0 - beta1**t), self.eps * sqrt_bc2], dim=1)
        return table.to(device=self.params.device, dtype=self.params.dtype)


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


def _masked_gradient(grad: Tensor, on: Tensor) -> Tensor:
    """g·on with non-finite entries set to 0: exactly 0 on frozen rows (even for NaN/inf)."""
    return (grad * on).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


def _check_params(params: Tensor) -> None:
    if params.ndim != 2 or not params.is_floating_point():
        raise ValueError(
            f"params must be a floating (seed, n_params) tensor, got {params.dtype} "
            f"{tuple(params.shape)}"
        )
