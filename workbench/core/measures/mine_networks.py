"""MINE's statistics networks: many as one batched model, forward and backward written out.

Each of ``rows`` networks is a 3-layer ReLU MLP on a pair (x, z)::

    h₁ = relu(W₁ₓᵀ x + W₁zᵀ z + b₁)        W₁ = [W₁ₓ; W₁z]: (d_x + d_z, H)
    h₂ = relu(W₂ᵀ h₁ + b₂)                  W₂: (H, H)
    T  = w₃ · h₂ + b₃                       w₃: (H,), b₃ scalar

with every parameter stacked over rows (``W₁: (rows, d_x + d_z, H)``, ``b₁: (rows, 1, H)``,
``W₂: (rows, H, H)``, ``b₂: (rows, 1, H)``, ``w₃: (rows, 1, H)``, ``b₃: (rows, 1, 1)``), so one
step is a few batched kernels for all rows; rows never mix. Initialisation is ``nn.Linear``'s
U(-1/√fan_in, 1/√fan_in) from the caller's generator.

**Pairs without a concatenation.** MINE evaluates the same x_i against several z's (its own
z_i, and a z_j drawn independently), so a forward takes ``g`` groups of z's for one set of
x's: pair ``k·b + i`` is (x_i, z_{k·b+i}). The x part of the first layer, ``x W₁ₓ``, is then
computed once and added to every group (``W₁ᵀ[x; z] = W₁ₓᵀ x + W₁zᵀ z``).

**Backward.** For a loss L = Σ_rows Σ_k δ_k T_k with δ = ∂L/∂T given (MINE's corrected DV
gradient), the chain rule gives, per row, with ⊙ elementwise and 1[·] the ReLU masks::

    ∂L/∂b₃ = Σ_k δ_k                  ∂L/∂w₃ = δᵀ h₂                 (a (1 × gb)(gb × H) product)
    δ₂ = (δ w₃) ⊙ 1[h₂ > 0]           ∂L/∂b₂ = Σ_k δ₂,k              ∂L/∂W₂ = h₁ᵀ δ₂
    δ₁ = (δ₂ W₂ᵀ) ⊙ 1[h₁ > 0]         ∂L/∂b₁ = Σ_k δ₁,k
    ∂L/∂W₁z = zᵀ δ₁                   ∂L/∂W₁ₓ = xᵀ Σ_groups δ₁       (x_i sits in every group)

(h > 0 ⇔ pre-activation > 0, so the masks are read off the in-place ReLU outputs.) Every
activation and gradient lands in a buffer allocated once (``out=`` products, in-place ReLU,
``threshold_backward`` in place), so a step allocates nothing the size of a batch; no autograd.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["StatisticsNetworks"]


class StatisticsNetworks:
    """``rows`` statistics networks with kept buffers; see the module for the formulas.

    Args:
        rows: Networks (estimators).
        d_x: Width of x.
        d_z: Width of z.
        hidden: H, the width of both hidden layers.
        gen: CPU generator the initial weights are drawn from (W₁, b₁, W₂, b₂, w₃, b₃ in turn).
        device: Where the parameters live.
        dtype: Parameter dtype (float32 for MINE; float64 in the gradient tests).

    Attributes:
        parameters: ``[W₁, b₁, W₂, b₂, w₃, b₃]``, shapes as in the module docstring.
        grads: Their gradients after :meth:`backward`, same shapes.
    """

    def __init__(
        self,
        rows: int,
        d_x: int,
        d_z: int,
        hidden: int,
        gen: torch.Generator,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.d_x = d_x
        d_in = d_x + d_z
        self.parameters: list[Tensor] = []
        layers = ((d_in, hidden, (rows, d_in, hidden)), (hidden, hidden, (rows, hidden, hidden)),
                  (hidden, 1, (rows, 1, hidden)))  # fmt: skip
        for fan_in, fan_out, w_shape in layers:
            bound = fan_in**-0.5
            for shape in (w_shape, (rows, 1, fan_out)):
                p = (torch.rand(shape, generator=gen) * 2.0 - 1.0) * bound
                self.parameters.append(p.to(device, dtype))
        self.grads = [torch.zeros_like(p) for p in self.parameters]
        self._storage: dict[str, Tensor] = {}
        self._inputs: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """T of every pair, keeping what :meth:`backward` needs.

        Args:
            x: ``(rows, b, d_x)``.
            z: ``(rows, g·b, d_z)``: g groups of b; pair ``k·b + i`` is ``(x_i, z_{k·b+i})``.

        Returns:
            ``(rows, g·b)`` T, a view of a kept buffer: valid until the next forward.
        """
        w1, b1, w2, b2, w3, b3 = self.parameters
        rows, b, _ = x.shape
        gb = z.shape[1]
        hidden = w2.shape[1]
        # W₁ₓᵀ x + b₁ once for the b x's, W₁zᵀ z for the g·b z's, summed by broadcasting.
        x_part = self._buffer("x_part", (rows, b, hidden))
        torch.baddbmm(b1, x, w1[:, : self.d_x], out=x_part)
        h1 = torch.bmm(z, w1[:, self.d_x :], out=self._buffer("h1", (rows, gb, hidden)))
        h1.view(rows, gb // b, b, hidden).add_(x_part[:, None]).clamp_min_(0.0)
        h2 = self._buffer("h2", (rows, gb, hidden))
        torch.baddbmm(b2, h1, w2, out=h2).clamp_min_(0.0)
        # (1 × H)(H × gb): T as one row per network, its output layer as a batched product.
        t = self._buffer("t", (rows, 1, gb))
        torch.baddbmm(b3, w3, h2.transpose(1, 2), out=t)
        self._inputs = (x, z)
        return t[:, 0]

    def backward(self, delta: Tensor) -> None:
        """Gradients of L = Σ δ·T into :attr:`grads`, for the last :meth:`forward`.

        Args:
            delta: ``(rows, g·b)`` ∂L/∂T.
        """
        if self._inputs is None:
            raise RuntimeError("backward needs a forward first")
        x, z = self._inputs
        _, _, w2, _, w3, _ = self.parameters
        g_w1, g_b1, g_w2, g_b2, g_w3, g_b3 = self.grads
        rows, gb = delta.shape
        b, hidden = x.shape[1], w2.shape[1]
        h1, h2 = self._buffer("h1", (rows, gb, hidden)), self._buffer("h2", (rows, gb, hidden))
        threshold = torch.ops.aten.threshold_backward.grad_input
        # 1. Output layer: ∂b₃ = Σ δ, ∂w₃ = δᵀ h₂, δ₂ = (δ w₃) ⊙ 1[h₂ > 0].
        torch.sum(delta, dim=1, keepdim=True, out=g_b3[:, 0])
        torch.bmm(delta[:, None], h2, out=g_w3)
        d2 = torch.mul(delta[:, :, None], w3, out=self._buffer("d2", (rows, gb, hidden)))
        threshold(d2, h2, 0.0, grad_input=d2)
        # 2. Second layer: ∂b₂ = Σ δ₂, ∂W₂ = h₁ᵀ δ₂, δ₁ = (δ₂ W₂ᵀ) ⊙ 1[h₁ > 0]. h₂ is spent,
        #    so δ₁ reuses its buffer (a smaller working set in cache).
        torch.sum(d2, dim=1, keepdim=True, out=g_b2)
        torch.bmm(h1.transpose(1, 2), d2, out=g_w2)
        d1 = torch.bmm(d2, w2.transpose(1, 2), out=h2)
        threshold(d1, h1, 0.0, grad_input=d1)
        # 3. First layer: ∂b₁ = Σ δ₁, ∂W₁z = zᵀ δ₁, ∂W₁ₓ = xᵀ Σ_groups δ₁. The products go to
        #    contiguous scratch first: into a strided slice of ∂W₁, bmm loops over the rows.
        torch.sum(d1, dim=1, keepdim=True, out=g_b1)
        d_z = z.shape[2]
        g_w1z = torch.bmm(z.transpose(1, 2), d1, out=self._buffer("g_w1z", (rows, d_z, hidden)))
        g_w1[:, self.d_x :].copy_(g_w1z)
        groups = d1.view(rows, gb // b, b, hidden)
        per_x = groups[:, 0]
        if gb != b:  # Σ over groups by adds: a sum with out= would zero its output first
            per_x = torch.add(groups[:, 0], groups[:, 1], out=self._buffer("x_part", per_x.shape))
            for k in range(2, gb // b):
                per_x.add_(groups[:, k])
        g_w1x = torch.bmm(
            x.transpose(1, 2), per_x, out=self._buffer("g_w1x", (rows, self.d_x, hidden))
        )
        g_w1[:, : self.d_x].copy_(g_w1x)

    def _buffer(self, key: str, shape: tuple[int, ...]) -> Tensor:
        """A kept buffer of ``shape`` (grown when needed, so steps allocate nothing)."""
        numel = math.prod(shape)
        store = self._storage.get(key)
        if store is None or store.numel() < numel:
            ref = self.parameters[0]
            store = torch.empty(numel, dtype=ref.dtype, device=ref.device)
            self._storage[key] = store
        return store[:numel].view(shape)
