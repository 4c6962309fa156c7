"""Exact dense Hessians of an ensemble MLP's loss, by a batched second-order adjoint.

:func:`workbench.core.hessian.dense_hessians` works for any loss but pays autodiff's cost of
one forward-over-reverse pass per parameter, as many tiny matrix products. For the MLPs of
:class:`~workbench.core.models.mlp.EnsembleMLP` the Hessian has a closed form in a few large
batched products, which this module computes for every seed at once.

Notation, per seed and input i (layer l = 1..L, ``a_0 = x``)::

    z_l = W_l a_{l-1} + b_l,   a_l = φ(z_l) (hidden),   f = z_L (linear output)
    loss  L = Σ_{i,o} ℓ(f_{i,o}, y_{i,o})     (ℓ includes the 1/N of the mean)

With ``Z_l = ∂z_l/∂θ`` and ``A_l = ∂a_l/∂θ`` (forward Jacobians: ``Z_l = W_l A_{l-1} + [∂z_l/∂θ_l
explicit]``, ``A_l = φ'(z_l) ⊙ Z_l``, ``A_0 = 0``) and the adjoints of ``g = Σ ℓ'·f`` (the
ordinary backward pass: ``ν_L = ℓ'``, ``μ_l = W_{l+1}ᵀ ν_{l+1}``, ``ν_l = μ_l ⊙ φ'(z_l)``), the
second-order chain rule over the graph's nodes gives the exact Hessian::

    H = Σ_{i,o} ℓ''_{i,o} Z_L[i,o]ᵀ Z_L[i,o]                        (Gauss–Newton part)
      + Σ_l Σ_i Σ_{k,j} ν_l[i,k] (E_{l,kj}ᵀ A_{l-1}[i,j] + A_{l-1}[i,j]ᵀ E_{l,kj})   (W_l · a_{l-1})
      + Σ_{hidden l} Σ_i Z_l[i]ᵀ diag(μ_l[i] ⊙ φ''(z_l[i])) Z_l[i]        (curvature of φ)

where ``E_{l,kj}`` selects parameter ``W_l[k, j]``. ReLU has φ'' = 0 (as autograd defines it),
so its last term vanishes. ``mse``: ``ℓ = (f-y)²/N``, ``ℓ' = 2(f-y)/N``, ``ℓ'' = 2/N``;
``bce-with-logits``: ``ℓ = (softplus f - y f)/N``, ``ℓ' = (σ(f) - y)/N``, ``ℓ'' = σ(1-σ)/N``.

Tests check it against ``torch.func.hessian`` for every activation and loss.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from workbench.core.models.mlp import EnsembleMLP

__all__ = ["mlp_hessians"]

#: Entries of the (chunk, batch, width, P) forward Jacobians held at once (float64: 256 MiB).
_JACOBIAN_ENTRIES = 1 << 25


def _loss_derivatives(f: Tensor, y: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """ℓ' and ℓ'' of each entry, mean over all N = batch·d_out entries included."""
    n = f.shape[1] * f.shape[2]
    if loss == "mse":
        return 2.0 * (f - y) / n, torch.full_like(f, 2.0 / n)
    if loss == "bce-with-logits":
        s = torch.sigmoid(f)
        return (s - y) / n, s * (1 - s) / n
    raise ValueError(f"loss {loss!r} is unknown; use mse or bce-with-logits")


def _phi(z: Tensor, activation: str) -> tuple[Tensor, Tensor, Tensor]:
    """φ(z), φ'(z), φ''(z) for relu, tanh and the exact (erf) gelu."""
    if activation == "relu":
        return torch.relu(z), (z > 0).to(z.dtype), torch.zeros_like(z)
    if activation == "tanh":
        t = torch.tanh(z)
        d1 = 1 - t * t
        return t, d1, -2 * t * d1
    if activation == "gelu":
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return z * cdf, cdf + z * pdf, pdf * (2 - z * z)
    raise ValueError(f"activation {activation!r} is unknown; use relu, tanh or gelu")


def mlp_hessians(
    model: EnsembleMLP, x: Tensor, y: Tensor, loss: str = "mse", *, chunk: int | None = None
) -> Tensor:
    """Exact Hessian of every seed's loss at its current parameters (see the module formula).

    Args:
        model: The ensemble; its ``params: (seed, P)`` are where the Hessians are taken.
        x: ``(batch, d_in)`` inputs shared by all seeds.
        y: ``(batch, d_out)`` targets shared by all seeds, or ``(seed, batch, d_out)``.
        loss: ``mse`` or ``bce-with-logits`` (means over batch and outputs, as in training).
        chunk: Seeds per batched pass (default bounds the forward Jacobians to 256 MiB).

    Returns:
        ``(seed, P, P)`` float64, symmetric.
    """
    n_seeds, p = model.params.shape
    batch = x.shape[0]
    widest = max(model.sizes)
    step = chunk or max(1, _JACOBIAN_ENTRIES // max(1, batch * widest * p))
    out = torch.empty(n_seeds, p, p, dtype=torch.float64, device=model.device)
    for start in range(0, n_seeds, step):
        rows = slice(start, min(n_seeds, start + step))
        yy = y[rows] if y.ndim == 3 else y
        out[rows] = _hessian_chunk(model.params[rows], model.sizes, model.activation, x, yy, loss)
    return out


def _hessian_chunk(
    params: Tensor, sizes: tuple[int, ...], activation: str, x: Tensor, y: Tensor, loss: str
) -> Tensor:
    theta = params.detach().to(torch.float64)
    s, p = theta.shape
    n = x.shape[0]
    dev = theta.device
    # 1. Forward pass, keeping z_l, φ'(z_l), φ''(z_l) and the forward Jacobians. Z_l and A_l
    #    depend only on the parameters of layers 1..l, so they keep only those columns.
    a = x.to(dev, torch.float64).unsqueeze(0).expand(s, -1, -1)  # (s, n, d_0)
    jac_a: Tensor | None = None  # A_0 = 0
    weights: list[Tensor] = []
    offsets: list[int] = []
    jac_inputs: list[Tensor | None] = []
    jac_z: list[Tensor] = []
    d1s: list[Tensor] = []
    d2s: list[Tensor] = []
    offset = 0
    pairs = list(itertools.pairwise(sizes))
    for li, (d_in, d_out) in enumerate(pairs):
        end = offset + d_out * (d_in + 1)
        w = theta[:, offset : offset + d_out * d_in].reshape(s, d_out, d_in)
        b = theta[:, offset + d_out * d_in : end]
        z = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2))  # (s, n, d_out)
        # Z_l = W_l A_{l-1} + explicit part: ∂z_k/∂W[k, j] = a_j and ∂z_k/∂b[k] = 1.
        jz = torch.zeros(s, n, d_out, end, dtype=torch.float64, device=dev)
        if jac_a is not None:
            jz[..., :offset] = torch.matmul(w.unsqueeze(1), jac_a)  # (s, n, d_out, offset)
        eye = torch.eye(d_out, dtype=torch.float64, device=dev)
        block = jz[..., offset : offset + d_out * d_in].view(s, n, d_out, d_out, d_in)
        block += eye[None, None, :, :, None] * a[:, :, None, None, :]
        jz[..., offset + d_out * d_in : end] += eye
        weights.append(w)
        offsets.append(offset)
        jac_inputs.append(jac_a)
        jac_z.append(jz)
        if li < len(pairs) - 1:
            a, d1, d2 = _phi(z, activation)
            d1s.append(d1)
            d2s.append(d2)
            jac_a = d1.unsqueeze(-1) * jz  # A_l = φ'(z_l) ⊙ Z_l
        else:
            a = z
        offset = end
    f = a  # (s, n, d_out)
    dl, ddl = _loss_derivatives(f, y.to(dev, torch.float64).expand_as(f), loss)
    # 2. Gauss–Newton part: Σ ℓ'' Z_Lᵀ Z_L, one batched product.
    jl = jac_z[-1].reshape(s, -1, p)  # (s, n·d_out, P)
    hess = torch.bmm(jl.transpose(1, 2), jl * ddl.reshape(s, -1, 1))
    # 3. Backward adjoints and the second-order terms, layer by layer from the top.
    nu = dl  # ν_L = ℓ'
    for li in range(len(pairs) - 1, 0, -1):
        d_in, d_out = pairs[li]
        prev = jac_inputs[li]
        assert prev is not None  # layers above the first see a_{l-1} that depends on θ
        c = prev.shape[-1]
        # W_l · a_{l-1} cross term: rows of W_l's parameters against A_{l-1}.
        cross = torch.bmm(nu.transpose(1, 2), prev.reshape(s, n, d_in * c)).reshape(
            s, d_out * d_in, c
        )  # Σ_i ν[i,k] A_{l-1}[i,j,:]
        rows = slice(offsets[li], offsets[li] + d_out * d_in)
        hess[:, rows, :c] += cross
        hess[:, :c, rows] += cross.transpose(1, 2)
        mu = torch.bmm(nu, weights[li])  # μ_{l-1} = W_lᵀ ν_l: (s, n, d_in)
        if activation != "relu":
            jz = jac_z[li - 1].reshape(s, n * d_in, c)
            curv = (mu * d2s[li - 1]).reshape(s, -1, 1)  # μ ⊙ φ''(z_{l-1})
            hess[:, :c, :c] += torch.bmm(jz.transpose(1, 2), jz * curv)
        nu = mu * d1s[li - 1]
    return (hess + hess.transpose(1, 2)) / 2
