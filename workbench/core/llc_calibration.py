"""Models whose learning coefficient is known, to calibrate an LLC estimator against.

Each model is a batched loss-and-gradient (rows of parameters at once, for
:func:`workbench.core.sgld.sgld_llc`), its minimiser w*, and its true λ:

* :func:`quadratic_model`: ``L(w) = ½ Σ_i h_i w_i²``, a regular model, λ = d/2;
* :func:`normal_crossing_model`: ``L(w) = w₁^{2k₁} w₂^{2k₂}``, the normal-crossing singularity
  of f(x) = w₁^{k₁} w₂^{k₂} x under squared loss, λ = min_i 1/(2k_i) (Watanabe, 2009, ch. 2):
  ¼ for k = (1, 2), ½ for k = (1, 1) (with multiplicity m = 2: see below);
* :func:`reduced_rank_model`: a two-layer linear network ``x ↦ B A x`` (A: H×M, B: N×H) fit to
  a rank-r map C, ``L(A, B) = ‖BA - C‖²_F / (MN)``, whose λ is Aoyagi & Watanabe's (2005)
  formula (:func:`aoyagi_lambda`).

A known λ is the *asymptotic* truth: λ̂'s expectation at finite nβ/γ is smaller. For the
normal crossing models :func:`normal_crossing_expected_llc` computes that finite expectation
exactly by quadrature, so a calibration can tell the sampler's error (λ̂ against the finite
truth) from the estimator's asymptotic bias (finite truth against λ). With multiplicity m the
tempered free energy gives ``nβ E[K] ≈ λ - (m - 1)/ln(nβ/γ)`` (Watanabe, 2009, Thm 6.7's
log term), which is why k = (1, 1) stays ~15% below ½ at nβ/γ = 10⁴.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from workbench.core.sgld import LossGrad

__all__ = [
    "aoyagi_lambda",
    "normal_crossing_expected_llc",
    "normal_crossing_family",
    "normal_crossing_model",
    "quadratic_model",
    "reduced_rank_model",
    "regular_truth",
    "stack_models",
]


def quadratic_model(h: Sequence[float]) -> LossGrad:
    """``L(w) = ½ Σ_i h_i w_i²`` with gradient ``h ⊙ w``; w* = 0, λ = d/2 when every h_i > 0."""
    h_t = torch.as_tensor(list(h), dtype=torch.float64)

    def loss_grad(w: Tensor, seed_of_row: Tensor | None = None) -> tuple[Tensor, Tensor]:
        hh = h_t.to(w.device, w.dtype)
        return 0.5 * (hh * w * w).sum(dim=1), hh * w

    return loss_grad


def normal_crossing_model(k1: int, k2: int) -> LossGrad:
    """``L(w) = w₁^{2k₁} w₂^{2k₂}`` and its gradient; w* = 0, λ = min(1/(2k₁), 1/(2k₂))."""
    if k1 < 1 or k2 < 1:
        raise ValueError(f"powers must be >= 1; got {(k1, k2)}")

    def loss_grad(w: Tensor, seed_of_row: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, b = w[:, 0], w[:, 1]
        pa, pb = a ** (2 * k1), b ** (2 * k2)
        grad = torch.stack(
            [2 * k1 * a ** (2 * k1 - 1) * pb, 2 * k2 * b ** (2 * k2 - 1) * pa], dim=1
        )
        return pa * pb, grad

    return loss_grad


def normal_crossing_family(powers: Sequence[tuple[int, int]]) -> LossGrad:
    """Several normal-crossing models side by side: seed i (row of w*) uses ``powers[i]``.

    Lets one batched SGLD run calibrate k = (1, 1) and k = (1, 2) together.
    """
    k = torch.as_tensor([list(kk) for kk in powers], dtype=torch.float64)  # (model, 2)
    if k.ndim != 2 or k.shape[1] != 2 or bool((k < 1).any()):
        raise ValueError(f"powers must be pairs of integers >= 1; got {list(powers)}")

    def loss_grad(w: Tensor, seed_of_row: Tensor) -> tuple[Tensor, Tensor]:
        kk = k.to(w.device, w.dtype).index_select(0, seed_of_row)  # (rows, 2)
        a, b = w[:, 0], w[:, 1]
        k1, k2 = kk[:, 0], kk[:, 1]
        pa, pb = a ** (2 * k1), b ** (2 * k2)
        grad = torch.stack([2 * k1 * a ** (2 * k1 - 1) * pb, 2 * k2 * b ** (2 * k2 - 1) * pa], 1)
        return pa * pb, grad

    return loss_grad


def stack_models(models: Sequence[tuple[LossGrad, int]]) -> tuple[LossGrad, int]:
    """Several models as one, so one batched SGLD run calibrates them all.

    Seed i (row i of w*) is model i, living in the first d_i of P = max d_i coordinates; its
    other coordinates do not enter its loss (their gradient is 0), so under the localised
    posterior they are independent Gaussians that leave E[L], and so λ̂, unchanged.

    Returns:
        ``(loss_grad, P)``.
    """
    dims = [int(d) for _, d in models]
    p = max(dims)

    def loss_grad(w: Tensor, seed_of_row: Tensor) -> tuple[Tensor, Tensor]:
        loss = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
        grad = torch.zeros_like(w)
        # Every model on every row, kept where the row is that model's: a handful of
        # elementwise ops per model, no host sync (a loop over the few models, not rows).
        for i, (fn, d) in enumerate(models):
            mine = (seed_of_row == i).to(w.dtype)
            value, g = fn(w[:, :d], seed_of_row)
            loss = loss + mine * torch.nan_to_num(value)
            grad[:, :d] += mine.unsqueeze(1) * torch.nan_to_num(g)
        return loss, grad

    return loss_grad, p


def normal_crossing_expected_llc(k2: int, nbeta: float, localization: float) -> float:
    """Exact ``nβ E[L]`` under ``p(w) ∝ exp(-nβ w₁² w₂^{2k₂} - (γ/2)‖w‖²)`` (k₁ = 1).

    Given w₂, w₁ is Gaussian with precision ``2a``, ``a = nβ w₂^{2k₂} + γ/2``, so
    ``E[w₁² | w₂] = 1/(2a)`` and the marginal of w₂ is ``∝ exp(-γw₂²/2) a^{-1/2}``; then

        nβ E[L] = ∫ exp(-γw²/2) a^{-1/2} · nβ w^{2k₂}/(2a) dw / ∫ exp(-γw²/2) a^{-1/2} dw

    by adaptive quadrature (scipy).
    """
    from scipy import integrate

    g = float(localization)
    if not (nbeta > 0 and g > 0):
        raise ValueError(f"need nbeta > 0 and localization > 0; got {nbeta}, {localization}")

    def a(w: float) -> float:
        return float(nbeta * w ** (2 * k2) + g / 2)

    def density(w: float) -> float:
        return math.exp(-g * w * w / 2) / math.sqrt(a(w))

    def numerator(w: float) -> float:
        return density(w) * nbeta * w ** (2 * k2) / (2 * a(w))

    top = 12 / math.sqrt(g)
    scale = (g / nbeta) ** (1 / (2 * k2))  # where nβ w^{2k} ≈ γ: the integrand's knee
    points = sorted({min(top / 2, scale * f) for f in (0.01, 0.1, 1.0, 10.0, 100.0)})
    z = integrate.quad(density, 0, top, points=points, limit=500)[0]
    m = integrate.quad(numerator, 0, top, points=points, limit=500)[0]
    return float(m / z)


def aoyagi_lambda(m: int, n: int, h: int, r: int) -> tuple[float, int]:
    """λ and multiplicity of reduced rank regression (Aoyagi & Watanabe, 2005, Main Theorem).

    For ``x ∈ R^M ↦ B A x ∈ R^N`` with H hidden units and a true map of rank r <= H:

    * if N + r <= M + H, M + r <= N + H and H + r <= M + N:
      λ = [2(H+r)(M+N) - (M-N)² - (H+r)²]/8 with m = 1 when M+H+N+r is even,
      and [... + 1]/8 with m = 2 when it is odd;
    * if M + H < N + r: λ = (HM - Hr + Nr)/2;
    * if N + H < M + r: λ = (HN - Hr + Mr)/2;
    * if M + N < H + r: λ = MN/2 (m = 1 in the last three).

    Returns:
        ``(λ, m)``.
    """
    if not 0 <= r <= h:
        raise ValueError(f"the true rank r must satisfy 0 <= r <= H; got r={r}, H={h}")
    if n + r <= m + h and m + r <= n + h and h + r <= m + n:
        base = 2 * (h + r) * (m + n) - (m - n) ** 2 - (h + r) ** 2
        if (m + h + n + r) % 2 == 0:
            return base / 8, 1
        return (base + 1) / 8, 2
    if m + h < n + r:
        return (h * m - h * r + n * r) / 2, 1
    if n + h < m + r:
        return (h * n - h * r + m * r) / 2, 1
    return m * n / 2, 1


def reduced_rank_model(
    m: int, n: int, h: int, r: int, *, seed: int = 0
) -> tuple[LossGrad, Tensor, float]:
    """A two-layer linear net fit to a rank-r map, at an exact minimum.

    The parameters are ``w = [vec A (H×M), vec B (N×H)]``; ``L = ‖BA - C‖²_F / (MN)`` with
    ``C = B₀A₀`` built from the first r hidden units of random A₀, B₀ (its own generator), so
    ``w* = (A₀, B₀)`` with the other H - r units zero is a minimum with L = 0.

    Returns:
        ``(loss_grad, w_star (1, H·M + N·H) float64, λ)`` with λ from :func:`aoyagi_lambda`.
    """
    gen = torch.Generator().manual_seed(seed)
    a0 = torch.randn(h, m, generator=gen, dtype=torch.float64)
    b0 = torch.randn(n, h, generator=gen, dtype=torch.float64)
    a0[r:] = 0
    b0[:, r:] = 0
    c = b0 @ a0
    scale = 1.0 / (m * n)

    def loss_grad(w: Tensor, seed_of_row: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a = w[:, : h * m].reshape(-1, h, m)
        b = w[:, h * m :].reshape(-1, n, h)
        resid = b @ a - c.to(w.device, w.dtype)  # (rows, N, M)
        loss = scale * resid.square().sum(dim=(1, 2))
        grad_a = 2 * scale * b.transpose(1, 2) @ resid  # (rows, H, M)
        grad_b = 2 * scale * resid @ a.transpose(1, 2)  # (rows, N, H)
        return loss, torch.cat([grad_a.flatten(1), grad_b.flatten(1)], dim=1)

    w_star = torch.cat([a0.flatten(), b0.flatten()]).unsqueeze(0)
    lam, _ = aoyagi_lambda(m, n, h, r)
    return loss_grad, w_star, lam


def regular_truth(d: int) -> float:
    """λ = d/2 of a regular model with d parameters."""
    return d / 2
