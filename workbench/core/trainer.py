"""The seeds still training, packed together: one training step that computes nothing else.

:func:`workbench.core.ensemble.train_ensemble` keeps the ensemble's parameters in
the model's flat ``(seed, n_params)`` buffer, but trains a :class:`WorkingSet`: a
packed copy of the seeds that still train, held per layer as ``W: (row, d_out,
d_in)`` and ``b: (row, d_out)`` views of ``(row, k)`` stores whose row length k is
padded to whole SIMD vectors (contiguous whenever k already is, as for widths that
are multiples of 16), with their gradients and optimiser state, and every
activation buffer allocated once. A step is

1. forward: ``pre_l = a_{l-1} W_lᵀ + b_l`` (``baddbmm`` into a kept buffer), φ in place;
2. the per-seed loss L and δ_L = ∂L/∂output;
3. backward by the chain rule straight into the kept gradient tensors:
   ``∂L/∂W_l = δ_lᵀ a_{l-1}``, ``∂L/∂b_l = Σ_batch δ_l``, ``δ_{l-1} = (δ_l W_l) ⊙ φ'(pre_{l-1})``;
4. each row's squared gradient norm Σ g², to flag overflow;
5. one fused optimiser update of every row.

When seeds freeze (their loss fell below the threshold, or a loss or Σ g² is not
finite), :meth:`WorkingSet.freeze` copies their parameters, as they were when they
froze, back to the model and marks their rows dead; :meth:`WorkingSet.compact`
drops dead rows once they are more than 1/8 of the rows (and before every report),
so a run in which 70% of the seeds have converged costs about 30% per step, and
the dead rows' wasted work is bounded by 1/8 of the live rows' work. Each row is
computed by the same kernels in the same order whatever rows sit beside it, so a
seed trained with others equals the seed trained alone (the tests check this bit
for bit on one thread).

Passes over parameter-sized memory per step (what bounds wide layers, e.g. 2,000
seeds of width 256, 1 GB of weights): the forward reads W, the backward reads W
and writes ∂W, step 4 reads ∂W, Adam reads θ, g, m, v and writes θ, m, v: 11, none
a copy, a mask or an allocation (fresh memory costs 1-2 s per GB of page faults on
the VMs this runs on). A report adds one write-back pass; compaction moves the
kept rows within their own memory (:func:`workbench.core.optim.compact_rows`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from workbench.core.choices import LOSSES
from workbench.core.models.mlp import EnsembleMLP
from workbench.core.optim import compact_rows, make_optimizer

__all__ = ["LOSSES", "WorkingSet", "batch_indices", "per_seed_loss"]

# LOSSES (from workbench.core.choices, so configs name them without torch): per-seed losses,
# each a mean over batch and output units.

#: Compact once dead rows exceed this fraction of the rows held.
DEAD_FRACTION = 1 / 8

#: Minibatch indices drawn and copied to the device at a time (see batch_indices),
#: and at most this many epochs' worth.
_INDICES_PER_COPY = 1 << 16
_MAX_EPOCHS_PER_COPY = 256

#: Products whose output has fewer columns than this (and fewer than rows) are
#: computed transposed: MKL's batched small GEMM is several times slower for very
#: narrow outputs (see workbench.core.models.mlp._NARROW).
_NARROW = 8


class WorkingSet:
    """A packed, trainable copy of some rows of an ensemble.

    Args:
        model: The ensemble; its parameters are read once and written back by
            :meth:`freeze` and :meth:`write_back`.
        x: ``(n, d_in)`` shared inputs or ``(seed, n, d_in)`` per-seed inputs.
        y: ``(n, d_out)`` or ``(seed, n, d_out)`` targets.
        optimizer: ``adam`` or ``sgd``; ``lr``, ``momentum``, ``betas``, ``eps`` as
            for :func:`workbench.core.optim.make_optimizer`.
    """

    def __init__(
        self,
        model: EnsembleMLP,
        x: Tensor,
        y: Tensor,
        *,
        optimizer: str,
        lr: float,
        momentum: float,
        betas: tuple[float, float],
        eps: float,
    ) -> None:
        self.model = model
        self.sizes = model.sizes
        self.activation = model.activation
        self._x_all, self._y_all = x, y
        self.rows = torch.arange(model.n_seeds, device=model.device)  # model row of each row
        self.live = torch.ones(model.n_seeds, dtype=torch.bool, device=model.device)
        self.n_live = model.n_seeds
        # Each layer's W and b live in a (row, k) store whose row length k is padded to
        # a whole number of SIMD vectors: the optimiser's fused kernel then treats every
        # element alike, never as a scalar tail whose position depends on the rows
        # beside it, which is what keeps a seed's result independent of its batch.
        self._pad = max(1, 64 // model.params.element_size())
        stores: list[Tensor] = []
        for layer in model.layers:
            for t in (layer.weight, layer.bias):
                k = t[0].numel()
                store = torch.empty(
                    model.n_seeds, _round_up(k, self._pad), dtype=t.dtype, device=t.device
                )
                store[:, :k] = t.reshape(model.n_seeds, -1)  # one pass, not zeros then copy
                store[:, k:] = 0.0
                stores.append(store)
        self._stores = stores
        self._grad_stores = [torch.zeros_like(t) for t in stores]
        self._make_views()
        self.optimizer = make_optimizer(
            optimizer, self._stores, lr, momentum=momentum, betas=betas, eps=eps
        )
        self._select_data()
        self._storage: dict[str, Tensor] = {}

    @property
    def n_rows(self) -> int:
        """Rows held, live or dead."""
        return int(self.rows.shape[0])

    @property
    def n_dead(self) -> int:
        """Rows frozen since the last compaction."""
        return self.n_rows - self.n_live

    def step(self, index: Tensor | None, loss_name: str) -> tuple[Tensor, Tensor]:
        """Forward and backward on one batch; gradients land in :attr:`grads`.

        Args:
            index: ``(batch,)`` example indices, or ``None`` for the full data.
            loss_name: One of :data:`workbench.core.ensemble.LOSSES`.

        Returns:
            ``loss: (row,)`` each row's loss on the batch, and ``finite: (row,)`` bool,
            loss and Σ g² both finite.
        """
        xb = self._x if index is None else self._x.index_select(-2, index)
        yb = self._y if index is None else self._y.index_select(-2, index)
        n, batch = self.n_rows, xb.shape[-2]
        # 1. Forward, keeping each layer's input (a_{l-1}) and post-activation.
        a = xb.unsqueeze(0).expand(n, -1, -1) if xb.ndim == 2 else xb
        inputs: list[Tensor] = []
        pres: list[Tensor] = []
        last = len(self.sizes) - 2
        for i in range(last + 1):
            weight, bias = self.params[2 * i], self.params[2 * i + 1]
            inputs.append(a)
            pre = self._affine(i, a, weight, bias, n, batch)
            pres.append(pre)
            a = pre if i == last else self._activate(i, pre, n, batch)
        # 2. Loss and δ_L.
        loss, delta = per_seed_loss(a, yb, loss_name)
        # 3. Backward into the kept gradients, output layer first.
        for i in range(last, -1, -1):
            grad_w, grad_b = self.grads[2 * i], self.grads[2 * i + 1]
            torch.sum(delta, dim=1, out=grad_b)  # ∂L/∂b = Σ_batch δ
            _matmul_into(delta.transpose(1, 2), inputs[i], grad_w)  # ∂L/∂W = δᵀ a
            if i > 0:
                delta = self._back_through(i, delta, pres[i - 1], n, batch)
        # 4. Σ g² finite ⇔ ‖g‖ < √(float max), whether or not the norm kernel rescales.
        # (the stores' padding is zero, so their norms are the gradients' norms).
        norms = torch.stack([torch.linalg.vector_norm(g, dim=1) for g in self._grad_stores])
        limit = math.sqrt(torch.finfo(norms.dtype).max)
        finite = torch.isfinite(loss) & (torch.linalg.vector_norm(norms, dim=0) < limit)
        return loss, finite

    def update(self) -> None:
        """5. One optimiser step of every row held, from :attr:`grads`."""
        self.optimizer.step(self._grad_stores)

    def freeze(self, rows: Tensor) -> Tensor:
        """Copy rows that stop training back to the model and mark them dead.

        Args:
            rows: ``(k,)`` long, positions in this working set (live ones).

        Returns:
            ``(k,)`` the model rows they came from.
        """
        model_rows = self.rows.index_select(0, rows)
        self._copy_out(rows, model_rows)
        self.live.index_fill_(0, rows, False)
        self.n_live -= int(rows.shape[0])
        if self.n_dead > DEAD_FRACTION * self.n_rows or self.n_live == 0:
            self.compact()
        return model_rows

    def compact(self) -> None:
        """Drop dead rows from parameters, gradients, optimiser state and data."""
        if self.n_dead == 0:
            return
        keep = torch.nonzero(self.live).squeeze(1)
        # In place (no fresh parameter-sized memory, see compact_rows).
        self._stores = [compact_rows(p, keep) for p in self._stores]
        # Compaction may fall between a step and its update: keep the gradients too.
        self._grad_stores = [compact_rows(g, keep) for g in self._grad_stores]
        self._make_views()
        self.optimizer.select(self._stores, keep)
        self.rows = self.rows.index_select(0, keep)
        self.live = self.live.index_select(0, keep)
        self._select_data()

    def write_back(self) -> None:
        """Copy every live row's parameters to the model (compacting first)."""
        self.compact()
        if self.n_rows:
            self._copy_out(None, self.rows)

    # -- internals ----------------------------------------------------------------------------

    def _copy_out(self, rows: Tensor | None, model_rows: Tensor) -> None:
        for i, layer in enumerate(self.model.layers):
            weight, bias = self.params[2 * i], self.params[2 * i + 1]
            if rows is not None:
                weight, bias = weight.index_select(0, rows), bias.index_select(0, rows)
            layer.weight.index_copy_(0, model_rows, weight)
            layer.bias.index_copy_(0, model_rows, bias)

    def _make_views(self) -> None:
        """``params``, ``grads``: ``[W_1 (row, d_1, d_0), b_1 (row, d_1), ...]``, store views."""
        n = self._stores[0].shape[0]
        shapes = [
            shape
            for d_in, d_out in itertools.pairwise(self.sizes)
            for shape in ((n, d_out, d_in), (n, d_out))
        ]
        self.params = [
            t[:, : math.prod(sh[1:])].view(sh) for t, sh in zip(self._stores, shapes, strict=True)
        ]
        self.grads = [
            t[:, : math.prod(sh[1:])].view(sh)
            for t, sh in zip(self._grad_stores, shapes, strict=True)
        ]

    def _select_data(self) -> None:
        x, y = self._x_all, self._y_all
        self._x = x if x.ndim == 2 else x.index_select(0, self.rows)
        self._y = y if y.ndim == 2 else y.index_select(0, self.rows)

    def _buffer(self, key: str, shape: Sequence[int]) -> Tensor:
        """A kept buffer of ``shape`` (grown when needed, so steps allocate nothing)."""
        numel = math.prod(shape)
        store = self._storage.get(key)
        if store is None or store.numel() < numel:
            ref = self.params[0]
            store = torch.empty(numel, dtype=ref.dtype, device=ref.device)
            self._storage[key] = store
        return store[:numel].view(*shape)

    def _affine(
        self, i: int, a: Tensor, weight: Tensor, bias: Tensor, n: int, batch: int
    ) -> Tensor:
        """``a Wᵀ + b``: ``(row, batch, d_in)`` → ``(row, batch, d_out)``, as _matmul_into."""
        d_in, d_out = self.sizes[i], self.sizes[i + 1]
        if d_in == 1:  # an outer product
            return a * weight.transpose(1, 2) + bias.unsqueeze(1)
        if d_out < min(batch, _NARROW):
            out = self._buffer(f"pre{i}", (n, d_out, batch))
            torch.baddbmm(bias.unsqueeze(2), weight, a.transpose(1, 2), out=out)
            return out.transpose(1, 2)
        out = self._buffer(f"pre{i}", (n, batch, d_out))
        return torch.baddbmm(bias.unsqueeze(1), a, weight.transpose(1, 2), out=out)

    def _activate(self, i: int, pre: Tensor, n: int, batch: int) -> Tensor:
        """φ(pre); relu and tanh in place (their backward needs only φ(pre))."""
        if self.activation == "relu":
            return pre.clamp_min_(0.0)
        if self.activation == "tanh":
            return pre.tanh_()
        post = self._buffer(f"post{i}", pre.shape)
        torch.ops.aten.gelu.out(pre, out=post)
        return post

    def _back_through(self, i: int, delta: Tensor, pre: Tensor, n: int, batch: int) -> Tensor:
        """δ_{l-1} = (δ_l W_l) ⊙ φ'(pre_{l-1}), with the fused kernels autograd uses.

        ``pre`` is the previous layer's buffer: φ(pre) for relu and tanh (computed
        in place), pre itself for gelu. relu: φ' = 1[φ > 0]; tanh: φ' = 1 - φ²;
        gelu: φ' = Φ(pre) + pre·𝜙(pre).
        """
        d_prev = self.sizes[i]
        weight = self.params[2 * i]
        if d_prev < min(batch, _NARROW):
            out = self._buffer(f"delta{i}", (n, d_prev, batch))
            torch.bmm(weight.transpose(1, 2), delta.transpose(1, 2), out=out)
            grad = out.transpose(1, 2)
        else:
            grad = self._buffer(f"delta{i}", (n, batch, d_prev))
            torch.bmm(delta, weight, out=grad)
        aten = torch.ops.aten
        if self.activation == "relu":
            aten.threshold_backward.grad_input(grad, pre, 0.0, grad_input=grad)
        elif self.activation == "tanh":
            aten.tanh_backward.grad_input(grad, pre, grad_input=grad)
        else:
            aten.gelu_backward.grad_input(grad, pre, grad_input=grad)
        return grad


def per_seed_loss(output: Tensor, target: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """Each seed's loss and its gradient with respect to the output.

    With ŷ the output, y the target and n = batch·d_out entries per seed:

    * ``mse``: L = (1/n) Σ (ŷ - y)²,  ∂L/∂ŷ = 2(ŷ - y)/n;
    * ``bce-with-logits`` (ŷ are logits, y ∈ [0, 1]):
      L = (1/n) Σ [softplus(ŷ) - y ŷ],  ∂L/∂ŷ = (σ(ŷ) - y)/n.

    Args:
        output: ``(seed, batch, d_out)``.
        target: ``(batch, d_out)`` or ``(seed, batch, d_out)``.
        loss: One of :data:`LOSSES`.

    Returns:
        ``loss: (seed,)`` and ``grad: (seed, batch, d_out)``.
    """
    n = output.shape[1] * output.shape[2]
    if loss == "mse":
        diff = output - target
        return diff.square().mean(dim=(1, 2)), diff.mul_(2.0 / n)
    if loss == "bce-with-logits":
        target = target.expand_as(output)
        value = torch.nn.functional.binary_cross_entropy_with_logits(
            output, target, reduction="none"
        ).mean(dim=(1, 2))
        return value, (torch.sigmoid(output) - target).div_(n)
    raise ValueError(f"loss {loss!r} is unknown; use one of {LOSSES}")


def _round_up(k: int, multiple: int) -> int:
    return -(-k // multiple) * multiple


def _matmul_into(a: Tensor, b: Tensor, out: Tensor) -> None:
    """``out = a @ b`` for ``(row, m, k)`` and ``(row, k, n)``, the fast way round.

    k = 1 is an outer product; a narrow output (n < min(m, 8)) is computed as
    ``(bᵀ aᵀ)ᵀ`` and copied into the contiguous ``out``.
    """
    m, k, n = a.shape[1], a.shape[2], b.shape[2]
    if k == 1:
        torch.mul(a, b, out=out)
    elif n < min(m, _NARROW):
        out.copy_(torch.bmm(b.transpose(1, 2), a.transpose(1, 2)).transpose(1, 2))
    else:
        torch.bmm(a, b, out=out)


def batch_indices(
    n: int, batch_size: int | None, data_seed: int, device: torch.device
) -> Iterator[Tensor | None]:
    """Endless minibatch indices: a fresh permutation per epoch from one generator.

    Yields ``None`` forever for full-batch training. The last batch of an epoch may
    be smaller. All seeds see the same batches, whatever seeds are trained together.
    Permutations are drawn on the CPU (the same on every device) for many epochs at
    a time and moved in one copy, so a CUDA run does not synchronise every epoch.
    """
    if batch_size is None or batch_size >= n:
        while True:
            yield None
    gen = torch.Generator(device="cpu").manual_seed(data_seed)
    epochs_per_copy = min(_MAX_EPOCHS_PER_COPY, max(1, _INDICES_PER_COPY // n))
    while True:
        perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(epochs_per_copy)])
        perms = perms.to(device)  # (epochs, n)
        for perm in perms:
            for start in range(0, n, batch_size):
                yield perm[start : start + batch_size]
