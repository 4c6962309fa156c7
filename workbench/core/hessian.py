"""Batched second-order tools: exact dense Hessians, Hessian-vector products and Lanczos.

Everything is per seed and batched across seeds: a loss ``L_s(θ_s)`` of each seed's flat
parameters ``θ_s`` (the :class:`~workbench.core.models.mlp.EnsembleMLP` layout), and

* :func:`dense_hessians`: ``H_s = ∇²L_s(θ_s)``, ``(seed, P, P)``, by ``torch.func.vmap`` over
  ``torch.func.hessian`` (forward-over-reverse), in seed chunks so memory stays bounded;
* :func:`hvp_batched`: ``H_s v_s`` for every seed at once, matrix-free (``jvp`` of ``grad``);
* :func:`lanczos`: k steps of Lanczos with full reorthogonalisation on those products
  (Lanczos, 1950; Golub & Van Loan, *Matrix Computations*, §10.1), giving Ritz values whose
  extremes converge to the extreme eigenvalues, for models too big for dense Hessians;
* :func:`spectrum_summary` and :func:`quadratic_log_volume`: trace, top eigenvalue, counts
  above ε and the log-volume of the quadratic basin ``{δ: ½ δᵀHδ ≤ c}``.

The MLP loss here is a pure function of one seed's flat parameters (:func:`mlp_loss_flat`),
written for ``torch.func``; it computes the same numbers as
:func:`workbench.core.ensemble.per_seed_loss` on the ensemble's forward pass (a test checks
it). Hessians are computed in float64 so their eigenvalues are good to ~1e-12
relative; a ReLU net's Hessian is the exact Hessian of the piecewise-smooth loss away from
the kinks (φ'' = 0 almost everywhere), as autograd defines it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

__all__ = [
    "LossFn",
    "SpectrumSummary",
    "dense_hessians",
    "hvp_batched",
    "lanczos",
    "log_unit_ball_volume",
    "mlp_loss_flat",
    "mlp_loss_fn",
    "quadratic_log_volume",
    "spectrum_summary",
]

LossFn = Callable[[Tensor], Tensor]
"""One seed's loss: flat parameters ``(P,)`` → scalar. Must be ``torch.func`` friendly."""

#: Entries of (chunk, P, P) Hessians built at once (bounds memory: 2^26 float64 = 512 MiB).
_HESSIAN_ENTRIES = 1 << 26


def mlp_loss_flat(
    theta: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    sizes: Sequence[int],
    activation: str,
    loss: str = "mse",
) -> Tensor:
    """The loss of one MLP given its flat parameters (the ``EnsembleMLP`` row layout).

    ``θ = [W_1 (d_1×d_0 row-major), b_1, W_2, b_2, ...]``; hidden layers apply φ, the last is
    linear. ``mse``: ``L = mean (ŷ - y)²``; ``bce-with-logits``: ``L = mean softplus(ŷ) - yŷ``
    (the means run over batch and output units, as in ``per_seed_loss``).

    Args:
        theta: ``(P,)`` flat parameters.
        x: ``(batch, d_in)`` inputs.
        y: ``(batch, d_out)`` targets.
        sizes: ``(d_in, *hidden, d_out)``.
        activation: ``relu``, ``tanh`` or ``gelu``.
        loss: ``mse`` or ``bce-with-logits``.

    Returns:
        A scalar tensor.
    """
    a = x.to(theta.dtype)
    offset = 0
    pairs = list(itertools.pairwise(sizes))
    for i, (d_in, d_out) in enumerate(pairs):
        w = theta[offset : offset + d_out * d_in].reshape(d_out, d_in)
        offset += d_out * d_in
        b = theta[offset : offset + d_out]
        offset += d_out
        a = a @ w.T + b  # (batch, d_out)
        if i < len(pairs) - 1:
            if activation == "relu":
                a = torch.relu(a)
            elif activation == "tanh":
                a = torch.tanh(a)
            else:
                a = torch.nn.functional.gelu(a)
    target = y.to(theta.dtype)
    if loss == "mse":
        return (a - target).square().mean()
    if loss == "bce-with-logits":
        return torch.nn.functional.binary_cross_entropy_with_logits(a, target)
    raise ValueError(f"loss {loss!r} is unknown; use mse or bce-with-logits")


def mlp_loss_fn(
    x: Tensor, y: Tensor, *, sizes: Sequence[int], activation: str, loss: str = "mse"
) -> LossFn:
    """:func:`mlp_loss_flat` with the data and architecture bound: ``θ ↦ L(θ)``."""
    sizes = tuple(int(s) for s in sizes)

    def fn(theta: Tensor) -> Tensor:
        return mlp_loss_flat(theta, x, y, sizes=sizes, activation=activation, loss=loss)

    return fn


def dense_hessians(loss_fn: LossFn, params: Tensor, *, chunk: int | None = None) -> Tensor:
    """Exact Hessian of every seed's loss at its parameters, batched across seeds.

    ``H_s[i, j] = ∂²L/∂θ_i∂θ_j at θ_s``, by ``vmap(hessian(loss_fn))`` (forward-over-reverse
    autodiff), computed in float64. No Python loop over seeds: seeds are processed in chunks
    of ``chunk`` rows only to bound memory (one vmapped call per chunk).

    Args:
        loss_fn: One seed's loss, ``(P,)`` → scalar.
        params: ``(seed, P)`` parameters.
        chunk: Seeds per vmapped call; default keeps a chunk's Hessians under 512 MiB.

    Returns:
        ``(seed, P, P)`` float64, symmetrised (``(H + Hᵀ)/2``, which only removes rounding).
    """
    theta = params.detach().to(torch.float64)
    n, p = theta.shape
    step = chunk or max(1, _HESSIAN_ENTRIES // max(1, p * p))
    batched = torch.func.vmap(torch.func.hessian(loss_fn))
    out = torch.empty(n, p, p, dtype=torch.float64, device=theta.device)
    for start in range(0, n, step):
        out[start : start + step] = batched(theta[start : start + step])
    return (out + out.transpose(1, 2)) / 2


def hvp_batched(loss_fn: LossFn, params: Tensor) -> Callable[[Tensor], Tensor]:
    """Matrix-free Hessian-vector products for every seed at once.

    ``v ↦ H_s v_s`` with ``H_s v = d/dt ∇L(θ_s + t v)|_{t=0}`` (a ``jvp`` of the gradient, one
    forward-over-reverse pass per product; Pearlmutter, 1994).

    Args:
        loss_fn: One seed's loss, ``(P,)`` → scalar.
        params: ``(seed, P)`` where to take the Hessians (float64 is used).

    Returns:
        A function ``(seed, P) → (seed, P)``.
    """
    theta = params.detach().to(torch.float64)
    grad = torch.func.grad(loss_fn)

    def one(t: Tensor, v: Tensor) -> Tensor:
        out: Tensor = torch.func.jvp(grad, (t,), (v,))[1]
        return out

    batched = torch.func.vmap(one)

    def hvp(v: Tensor) -> Tensor:
        return batched(theta, v.to(torch.float64))

    return hvp


def lanczos(
    matvec: Callable[[Tensor], Tensor],
    n_seeds: int,
    dim: int,
    n_iter: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Ritz values of k-step Lanczos with full reorthogonalisation, every seed at once.

    From a random unit start q_1 per seed, for j = 1..k::

        w = H q_j - β_{j-1} q_{j-1};  α_j = q_jᵀ w;  w -= α_j q_j
        w -= Q (Qᵀ w)  (twice: classical Gram–Schmidt, reorthogonalised)
        β_j = ‖w‖;  q_{j+1} = w / β_j

    The tridiagonal T_k (diagonal α, off-diagonal β) has eigenvalues (Ritz values) whose
    extremes converge fast to H's extreme eigenvalues; with k = dim they are H's
    eigenvalues. A seed whose β_j vanishes (an invariant subspace) keeps zero blocks, which
    add spurious zero Ritz values only when k exceeds the Krylov dimension.

    Args:
        matvec: ``(seed, dim) → (seed, dim)``, each seed's symmetric H applied to its vector.
        n_seeds: Seeds.
        dim: Parameter dimension P.
        n_iter: k, at most ``dim``.
        generator: For the random start vectors (on the CPU).
        device: Where to compute.

    Returns:
        ``(seed, k)`` Ritz values, descending, float64.
    """
    k = min(int(n_iter), dim)
    gen = generator or torch.Generator().manual_seed(0)
    q = torch.randn(n_seeds, dim, generator=gen, dtype=torch.float64).to(device)
    q = q / torch.linalg.vector_norm(q, dim=1, keepdim=True)
    basis = torch.zeros(n_seeds, k, dim, dtype=torch.float64, device=device)  # Q: (seed, k, P)
    alpha = torch.zeros(n_seeds, k, dtype=torch.float64, device=device)
    beta = torch.zeros(n_seeds, k, dtype=torch.float64, device=device)
    prev = torch.zeros_like(q)
    for j in range(k):
        basis[:, j] = q
        w = matvec(q)
        if j > 0:
            w = w - beta[:, j - 1 : j] * prev
        alpha[:, j] = (q * w).sum(dim=1)
        w = w - alpha[:, j : j + 1] * q
        for _ in range(2):  # full reorthogonalisation against Q_{1..j}
            coeff = torch.einsum("skp,sp->sk", basis[:, : j + 1], w)
            w = w - torch.einsum("sk,skp->sp", coeff, basis[:, : j + 1])
        b = torch.linalg.vector_norm(w, dim=1)
        beta[:, j] = b
        prev = q
        # A breakdown (b ≈ 0) leaves q = 0: the remaining Ritz values are exact zeros.
        q = torch.where(b[:, None] > 1e-12, w / b.clamp_min(1e-300)[:, None], torch.zeros_like(w))
    tri = (
        torch.diag_embed(alpha)
        + torch.diag_embed(beta[:, :-1], 1)
        + torch.diag_embed(beta[:, :-1], -1)
    )
    ritz: Tensor = torch.linalg.eigvalsh(tri).flip(-1)
    return ritz


@dataclass(frozen=True)
class SpectrumSummary:
    """Per-seed summaries of Hessian eigenvalues.

    Attributes:
        trace: ``(seed,)`` Σ λ_i.
        top: ``(seed,)`` λ_max.
        count_above: ``(seed, n_eps)`` #{i: λ_i > ε} for each ε of ``eps``.
        n_negative: ``(seed,)`` #{i: λ_i < -tol} (tol: ``rel_tol`` · |λ_max|).
        n_zero: ``(seed,)`` #{i: |λ_i| <= tol}.
        eps: ``(n_eps,)`` the thresholds.
    """

    trace: npt.NDArray[np.float64]
    top: npt.NDArray[np.float64]
    count_above: npt.NDArray[np.int64]
    n_negative: npt.NDArray[np.int64]
    n_zero: npt.NDArray[np.int64]
    eps: npt.NDArray[np.float64]


def spectrum_summary(
    eigenvalues: npt.ArrayLike, eps: Sequence[float], *, rel_tol: float = 1e-9
) -> SpectrumSummary:
    """Trace, top eigenvalue and counts above each ε of every seed's spectrum.

    Args:
        eigenvalues: ``(seed, P)`` eigenvalues (any order).
        eps: Thresholds ε for the counts #{λ > ε}.
        rel_tol: Eigenvalues within ``rel_tol · max|λ|`` of zero count as zero (rounding).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 2:
        raise ValueError(f"eigenvalues must be (seed, P); got shape {lam.shape}")
    e = np.asarray(list(eps), dtype=np.float64)
    tol = rel_tol * np.abs(lam).max(axis=1, keepdims=True)
    return SpectrumSummary(
        trace=lam.sum(axis=1),
        top=lam.max(axis=1),
        count_above=(lam[:, :, None] > e[None, None, :]).sum(axis=1).astype(np.int64),
        n_negative=(lam < -tol).sum(axis=1).astype(np.int64),
        n_zero=(np.abs(lam) <= tol).sum(axis=1).astype(np.int64),
        eps=e,
    )


def log_unit_ball_volume(d: int) -> float:
    """ln V_d of the unit ball in R^d: ``V_d = π^{d/2} / Γ(d/2 + 1)``."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)


def quadratic_log_volume(
    eigenvalues: npt.ArrayLike, budget: npt.ArrayLike, floor: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Natural log-volume of the quadratic basin ``{δ: ½ δᵀ H δ <= c}``, floored eigenvalues.

    For positive eigenvalues the set is an ellipsoid with semi-axes ``√(2c/λ_i)``::

        ln V = ln V_P + (P/2) ln(2c) - ½ Σ_i ln max(λ_i, f)

    The quadratic basin is unbounded along eigenvalues <= 0, so each eigenvalue below the
    floor f is replaced by f (an arbitrary curvature, to be swept) and *counted*, never
    dropped: the second return value says how many were floored.

    Args:
        eigenvalues: ``(seed, P)``.
        budget: ``(seed,)`` or scalar c = T − L(θ*) > 0, the loss increase allowed; seeds
            with c <= 0 (already above T) get NaN.
        floor: f > 0.

    Returns:
        ``(log_volume (seed,), n_floored (seed,))``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if not floor > 0:
        raise ValueError(f"floor must be > 0; got {floor}")
    c = np.broadcast_to(np.asarray(budget, dtype=np.float64), lam.shape[:1])
    p = lam.shape[1]
    floored = (lam < floor).sum(axis=1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        logv = (
            log_unit_ball_volume(p)
            + 0.5 * p * np.log(2 * c)
            - 0.5 * np.log(np.maximum(lam, floor)).sum(axis=1)
        )
    return np.where(c > 0, logv, np.nan), floored
