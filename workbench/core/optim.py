"""Per-seed optimisers for the seeds of an ensemble that are still training.

The parameters are a list of tensors whose first dimension is the seed, e.g.
``[W_1 (seed, d_1, d_0), b_1 (seed, d_1), W_2, ...]``. Row ``s`` of every tensor
belongs to one seed, and its optimiser state (moments) is row ``s`` of the state
tensors, so seeds never mix: each row follows ``torch.optim.SGD`` / ``Adam`` for its
own gradient, which the tests check against those classes per seed.

Freezing a seed is not a mask but a removal: :meth:`select` keeps the rows that
still train and drops the others' state (the caller has already copied their
parameters out, see :mod:`workbench.core.trainer`), moving the kept rows to the
front of the same memory with :func:`compact_rows` rather than into fresh tensors:
on the VMs this project runs on, first-touched memory costs 1-2 s per GB in page
faults, which at 2,000 seeds of width 256 (4 GB of state) is several steps' work.
Every row still held has therefore taken exactly the same number of steps, so
one step count (and one pair of Adam bias corrections) serves all rows, and a
step is one fused kernel over the whole list (``torch._fused_adam_``, what
``torch.optim.Adam(fused=True)`` calls; on a CPU it reads each element once
instead of once per elementwise op) plus nothing per seed. A frozen seed costs no work at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from workbench.core.choices import OPTIMIZERS

__all__ = [
    "OPTIMIZERS",
    "BatchedAdam",
    "BatchedOptimizer",
    "BatchedSGD",
    "compact_rows",
    "make_optimizer",
]


#: Bytes moved per chunk by compact_rows: its only allocation.
_COMPACT_CHUNK_BYTES = 1 << 22


def compact_rows(t: Tensor, keep: Tensor) -> Tensor:
    """Move rows ``keep`` of ``t`` to its front, in place, and return ``t[:len(keep)]``.

    Row j of the result is old row ``keep[j]``. ``keep`` must be increasing, so
    ``keep[j] >= j``: copying chunk by chunk from the front, a chunk reads rows
    ``keep[j:j+c]`` (all >= j) into a small temporary before writing rows j..j+c-1,
    and every later chunk reads only rows >= j+c, none of which has been written.
    The temporary is at most about 4 MB, so compaction allocates no parameter-sized
    memory; the rows past the result stay allocated (and unused) until ``t`` is freed.

    Args:
        t: ``(row, ...)`` contiguous.
        keep: ``(n_kept,)`` long, strictly increasing positions in ``t``.

    Returns:
        ``(n_kept, ...)`` the front of ``t`` (a view, contiguous).
    """
    n = int(keep.shape[0])
    if n == t.shape[0]:  # an increasing keep of every row is every row, in order
        return t
    row_bytes = max(1, t[0].numel() * t.element_size())
    chunk = max(1, _COMPACT_CHUNK_BYTES // row_bytes)
    for j in range(0, n, chunk):
        rows = keep[j : j + chunk]
        t[j : j + rows.shape[0]].copy_(t.index_select(0, rows))
    return t[:n]


class BatchedOptimizer(Protocol):
    """Updates a list of ``(seed, ...)`` tensors in place, one independent optimiser per row."""

    params: list[Tensor]

    def step(self, grads: Sequence[Tensor]) -> None:
        """One update of every row, each from its own gradient row.

        Args:
            grads: One gradient per parameter tensor, of the same shape.
        """
        ...

    def select(self, params: Sequence[Tensor], keep: Tensor) -> None:
        """Continue with ``params`` (the kept rows of the old ones), keeping their state.

        Args:
            params: The new parameter tensors, row ``i`` = old row ``keep[i]``.
            keep: ``(n_kept,)`` long, the old rows that stay, increasing; the
                state is compacted in place (:func:`compact_rows`).
        """
        ...


class BatchedSGD:
    """Stochastic gradient descent with optional heavy-ball momentum, per seed.

    With learning rate η and momentum μ, for each row::

        m ← μ m + g            (m = g on the first step, as torch.optim.SGD)
        θ ← θ - η m

    Args:
        params: ``(seed, ...)`` tensors, updated in place.
        lr: Learning rate η > 0.
        momentum: μ in [0, 1); 0 is plain gradient descent.
    """

    def __init__(self, params: Sequence[Tensor], lr: float, momentum: float = 0.0) -> None:
        _check_params(params)
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        # m starts at 0, so μ·0 + g = g on the first step, exactly torch.optim.SGD's m = g.
        self.buffers = [torch.zeros_like(p) for p in self.params] if momentum > 0 else []

    def step(self, grads: Sequence[Tensor]) -> None:
        """See :meth:`BatchedOptimizer.step`."""
        if not self.buffers:
            torch._foreach_add_(self.params, list(grads), alpha=-self.lr)
            return
        torch._foreach_mul_(self.buffers, self.momentum)
        torch._foreach_add_(self.buffers, list(grads))
        torch._foreach_add_(self.params, self.buffers, alpha=-self.lr)

    def select(self, params: Sequence[Tensor], keep: Tensor) -> None:
        """See :meth:`BatchedOptimizer.select`."""
        self.params = list(params)
        self.buffers = [compact_rows(b, keep) for b in self.buffers]


class BatchedAdam:
    """Adam (Kingma & Ba 2015), one independent state per row.

    For each row with gradient g, after t steps::

        m ← β₁ m + (1-β₁) g
        v ← β₂ v + (1-β₂) g²
        θ ← θ - η/(1-β₁ᵗ) · m / (√v / √(1-β₂ᵗ) + ε)

    the form ``torch.optim.Adam`` uses (no weight decay, no amsgrad). All rows held
    share t (see the module docstring), so t is one 0-d tensor.

    Args:
        params: ``(seed, ...)`` tensors, updated in place.
        lr: Learning rate η > 0.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε > 0, added to the denominator for stability.
    """

    def __init__(
        self,
        params: Sequence[Tensor],
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
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]  # m
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]  # v
        # The fused kernel reads one float32 step counter per tensor; the caller counts.
        device = self.params[0].device
        self.state_steps = [torch.zeros((), device=device) for _ in self.params]

    @property
    def steps_taken(self) -> int:
        """t, the steps every row held has taken."""
        return int(self.state_steps[0].item())

    def step(self, grads: Sequence[Tensor]) -> None:
        """See :meth:`BatchedOptimizer.step`."""
        beta1, beta2 = self.betas
        torch._foreach_add_(self.state_steps, 1.0)  # t ← t + 1, then the update uses t
        torch._fused_adam_(
            self.params,
            list(grads),
            self.exp_avg,
            self.exp_avg_sq,
            [],
            self.state_steps,
            lr=self.lr,
            beta1=beta1,
            beta2=beta2,
            weight_decay=0.0,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )

    def select(self, params: Sequence[Tensor], keep: Tensor) -> None:
        """See :meth:`BatchedOptimizer.select`."""
        self.params = list(params)
        self.exp_avg = [compact_rows(m, keep) for m in self.exp_avg]
        self.exp_avg_sq = [compact_rows(v, keep) for v in self.exp_avg_sq]


def make_optimizer(
    name: str,
    params: Sequence[Tensor],
    lr: float,
    *,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> BatchedAdam | BatchedSGD:
    """Build a batched optimiser by name (one of :data:`OPTIMIZERS`).

    Raises:
        ValueError: If the name is unknown.
    """
    if name == "adam":
        return BatchedAdam(params, lr, betas=betas, eps=eps)
    if name == "sgd":
        return BatchedSGD(params, lr, momentum=momentum)
    raise ValueError(f"optimizer {name!r} is unknown; use one of {OPTIMIZERS}")


def _check_params(params: Sequence[Tensor]) -> None:
    if not params or any(
        p.ndim < 1 or not p.is_floating_point() or p.shape[0] != params[0].shape[0] for p in params
    ):
        raise ValueError(
            "params must be a non-empty list of floating (seed, ...) tensors with one "
            f"seed count, got {[(p.dtype, tuple(p.shape)) for p in params]}"
        )
