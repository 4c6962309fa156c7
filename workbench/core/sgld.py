"""The local learning coefficient (LLC) by batched SGLD: every setting × seed × chain at once.

Singular learning theory's learning coefficient λ is the volume-scaling exponent of the set of
near-optimal parameters: ``V(ε) = vol{w near w*: L(w) - L(w*) < ε} ∝ ε^λ`` as ε → 0 (Watanabe,
2009). Lau, Furman, Wang, Murfet & Wei (2023), *Quantifying degeneracy in singular models via
the learning coefficient*, estimate its local version at a trained w* as

    λ̂(w*) = nβ · (E_w[L_n(w)] - L_n(w*))

with the expectation over the localised, tempered posterior
``p(w) ∝ exp(-nβ L_n(w) - (γ/2)‖w - w*‖²)``. For a regular model (``L_n`` quadratic with
Hessian H) the expectation is exactly ``½ Σ_i nβh_i / (nβh_i + γ)``, which tends to d/2 as
γ/(nβ) → 0: the estimator's bias from the localisation is explicit.

The expectation is sampled by stochastic-gradient Langevin dynamics (Welling & Teh, 2011), in
the form devinterp uses (full batch here, so the gradient is exact)::

    w_{t+1} = w_t - (ε/2) (nβ ∇L_n(w_t) + γ (w_t - w*)) + √ε ξ_t,    ξ_t ~ N(0, I)

starting at w_0 = w*. With L_t = L_n(w_t), chain c's estimate is
``λ̂_c = nβ (mean_{t >= burn_in} L_t - L_n(w*))`` (devinterp 2.x also averages the burn-in
steps; we drop them, which is the estimator Lau et al. define). Symbols: ε step size, nβ the
inverse temperature times the sample size, γ the localisation strength.

Batched: rows are (setting, seed, chain) in that order; each setting is its own (ε, nβ, γ), so
a sweep over step sizes, temperatures and localisations is one computation, as are all chains
of all seeds. The only Python loop is over SGLD steps, which a Markov chain cannot avoid. The
noise of all rows comes from one ``torch.Generator`` seeded with ``seed`` (like a shared
minibatch order, it depends on which rows are sampled together, never on global state).

A chain whose loss turns NaN or infinite, or exceeds ``diverge_loss``, is flagged diverged and
frozen; its λ̂ is NaN. Diagnostics per (setting, seed): the spread of λ̂ across chains and the
split-R̂ of the loss traces (Vehtari, Gelman, Simpson, Carpenter & Bürkner, 2021).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

__all__ = [
    "LossGrad",
    "SGLDProgress",
    "SGLDResult",
    "SGLDSetting",
    "expected_llc_quadratic",
    "sgld_llc",
    "split_rhat",
]

LossGrad = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
"""Batched loss and gradient: ``(w (rows, P), seed_of_row (rows,) int64)`` → ``(loss (rows,),
grad (rows, P))``; ``seed_of_row[i]`` is the seed (row of w*) that row i belongs to, so a loss
with per-seed data (each seed's own targets) can pick them."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SGLDSetting:
    """One (ε, nβ, γ) setting of the sampler.

    Attributes:
        step_size: ε > 0.
        nbeta: nβ > 0.
        localization: γ >= 0.
    """

    step_size: float
    nbeta: float
    localization: float

    def __post_init__(self) -> None:
        if not (self.step_size > 0 and self.nbeta > 0 and self.localization >= 0):
            raise ValueError(f"need step_size > 0, nbeta > 0 and localization >= 0; got {self}")


@dataclass(frozen=True)
class SGLDProgress:
    """A snapshot for progress callbacks.

    Attributes:
        step: SGLD steps done.
        total: Steps to do (burn-in + draws).
        loss: ``(setting, seed)`` current loss, mean over chains.
        running_llc: ``(setting, seed)`` λ̂ from the draws so far (NaN during burn-in).
    """

    step: int
    total: int
    loss: FloatArray
    running_llc: FloatArray


@dataclass(frozen=True)
class SGLDResult:
    """What the sampler found.

    Attributes:
        settings: The settings, in row order.
        llc_chains: ``(setting, seed, chain)`` λ̂ of each chain (NaN if it diverged).
        trace: ``(setting, seed, chain, kept)`` the loss every ``trace_every`` steps (all steps,
            burn-in included, so plots show it).
        trace_steps: ``(kept,)`` the step of each trace column.
        init_loss: ``(seed,)`` L_n(w*).
        diverged: ``(setting, seed, chain)`` bool.
        burn_in: Steps dropped from the estimate.
    """

    settings: tuple[SGLDSetting, ...]
    llc_chains: FloatArray
    trace: FloatArray
    trace_steps: npt.NDArray[np.int64]
    init_loss: FloatArray
    diverged: npt.NDArray[np.bool_]
    burn_in: int
    rhat: FloatArray

    @property
    def llc(self) -> FloatArray:
        """``(setting, seed)`` mean λ̂ over the chains that did not diverge (NaN if none)."""
        return self.llc_first_chains(self.llc_chains.shape[-1])

    @property
    def llc_std(self) -> FloatArray:
        """``(setting, seed)`` standard deviation of λ̂ across chains (ddof 1)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.asarray(np.nanstd(self.llc_chains, axis=-1, ddof=1))

    def llc_first_chains(self, k: int) -> FloatArray:
        """``(setting, seed)`` λ̂ from the first k chains only (the chain-count sweep)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.asarray(np.nanmean(self.llc_chains[..., :k], axis=-1))


def split_rhat(traces: npt.ArrayLike) -> FloatArray:
    """Split-R̂ of chains (Vehtari et al., 2021, without rank normalisation).

    Each chain of length N is split into halves, giving M = 2·chains sequences of length
    n = ⌊N/2⌋. With B = n·Var(sequence means) and W = mean within-sequence variance,
    ``R̂ = √(((n - 1)/n · W + B/n) / W)``; values near 1 mean the chains agree, above ~1.01-1.1
    that they have not mixed.

    Args:
        traces: ``(..., chain, N)``.

    Returns:
        ``(...)`` R̂ (NaN where W = 0 or a trace holds NaN).
    """
    t = np.asarray(traces, dtype=np.float64)
    n = t.shape[-1] // 2
    if n < 2:
        return np.full(t.shape[:-2], np.nan)
    halves = np.concatenate([t[..., :n], t[..., -n:]], axis=-2)  # (..., 2·chain, n)
    means = halves.mean(axis=-1)
    b = n * means.var(axis=-1, ddof=1)
    w = halves.var(axis=-1, ddof=1).mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.sqrt(((n - 1) / n * w + b / n) / w))


def expected_llc_quadratic(
    hessian_eigenvalues: npt.ArrayLike, nbeta: float, localization: float
) -> float:
    """Exact E[λ̂] for a quadratic loss: ``½ Σ_i nβh_i / (nβh_i + γ)`` (h_i > 0)."""
    h = np.asarray(hessian_eigenvalues, dtype=np.float64)
    return float(0.5 * np.sum(nbeta * h / (nbeta * h + localization)))


def sgld_llc(
    loss_grad: LossGrad,
    w_star: Tensor,
    settings: Sequence[SGLDSetting],
    *,
    chains: int,
    draws: int,
    burn_in: int = 0,
    seed: int = 0,
    diverge_loss: float = 1e6,
    trace_every: int = 1,
    callback: Callable[[SGLDProgress], None] | None = None,
    report_every: int = 50,
) -> SGLDResult:
    """Estimate λ̂ for every (setting, seed, chain) as one batched SGLD run.

    Args:
        loss_grad: Batched loss and gradient over rows of parameters.
        w_star: ``(seed, P)`` the points to localise at.
        settings: The (ε, nβ, γ) settings to run side by side.
        chains: Chains per (setting, seed).
        draws: Steps whose loss enters λ̂, after ``burn_in`` steps.
        burn_in: Steps run first and left out of λ̂.
        seed: Seed of the noise generator.
        diverge_loss: A chain whose loss exceeds this (or is not finite) is frozen as diverged.
        trace_every: Keep the loss every this many steps in the trace.
        callback: Receives an :class:`SGLDProgress` every ``report_every`` steps and at the end.
        report_every: Steps between callbacks.

    Returns:
        The per-chain estimates, traces and diagnostics.
    """
    if chains < 1 or draws < 1 or burn_in < 0:
        raise ValueError(
            f"need chains >= 1, draws >= 1, burn_in >= 0; got {chains}, {draws}, {burn_in}"
        )
    n_set, (n_seed, p) = len(settings), w_star.shape
    if n_set == 0:
        raise ValueError("need at least one SGLD setting")
    dev, dtype = w_star.device, w_star.dtype
    shape = (n_set, n_seed, chains)
    rows = n_set * n_seed * chains

    def per_row(values: list[float]) -> Tensor:
        col = torch.tensor(values, dtype=dtype, device=dev).view(n_set, 1, 1)
        return col.expand(shape).reshape(rows, 1)

    eps = per_row([s.step_size for s in settings])
    nbeta = per_row([s.nbeta for s in settings])
    gamma = per_row([s.localization for s in settings])
    center = w_star.detach().unsqueeze(0).unsqueeze(2).expand(n_set, n_seed, chains, p)
    center = center.reshape(rows, p)
    w = center.clone()
    seed_of_row = torch.arange(n_seed, device=dev).view(1, n_seed, 1).expand(shape).reshape(rows)
    with torch.no_grad():
        init_loss, _ = loss_grad(w_star.detach(), torch.arange(n_seed, device=dev))
    init_rows = init_loss.view(1, n_seed, 1).expand(shape).reshape(rows)
    gen = torch.Generator(device=dev).manual_seed(seed)
    total = burn_in + draws
    diverged = torch.zeros(rows, dtype=torch.bool, device=dev)
    loss_sum = torch.zeros(rows, dtype=torch.float64, device=dev)
    kept: list[Tensor] = []
    kept_steps: list[int] = []
    half_sqrt_eps = eps.sqrt()
    with torch.no_grad():
        for t in range(total):
            loss, grad = loss_grad(w, seed_of_row)
            bad = ~torch.isfinite(loss) | (loss > diverge_loss)
            bad |= ~torch.isfinite(grad).all(dim=1)
            diverged |= bad
            active = (~diverged).to(dtype).unsqueeze(1)
            loss = torch.where(diverged, torch.full_like(loss, math.nan), loss)
            if t >= burn_in:
                loss_sum += loss.to(torch.float64)
            if t % trace_every == 0:
                kept.append(loss.to(torch.float64))
                kept_steps.append(t)
            # 1. drift (ε/2)(nβ∇L + γ(w - w*)); 2. noise √ε ξ; frozen rows do not move.
            drift = nbeta * torch.nan_to_num(grad) + gamma * (w - center)
            noise = torch.randn(rows, p, generator=gen, device=dev, dtype=dtype)
            w = w + active * (-0.5 * eps * drift + half_sqrt_eps * noise)
            if callback is not None and ((t + 1) % report_every == 0 or t + 1 == total):
                callback(_progress(t + 1, total, burn_in, loss, loss_sum, init_rows, nbeta, shape))
    llc = nbeta.view(rows).to(torch.float64) * (loss_sum / max(1, draws) - init_rows.double())
    llc = torch.where(diverged, torch.full_like(llc, math.nan), llc)
    trace = torch.stack(kept, dim=1).view(*shape, len(kept)).cpu().numpy()
    draws_trace = trace[..., [i for i, s in enumerate(kept_steps) if s >= burn_in]]
    return SGLDResult(
        settings=tuple(settings),
        llc_chains=llc.view(shape).cpu().numpy(),
        trace=trace,
        trace_steps=np.asarray(kept_steps, dtype=np.int64),
        init_loss=init_loss.detach().to(torch.float64).cpu().numpy(),
        diverged=diverged.view(shape).cpu().numpy(),
        burn_in=burn_in,
        rhat=split_rhat(draws_trace),
    )


def _progress(
    step: int,
    total: int,
    burn_in: int,
    loss: Tensor,
    loss_sum: Tensor,
    init_rows: Tensor,
    nbeta: Tensor,
    shape: tuple[int, int, int],
) -> SGLDProgress:
    done = step - burn_in
    running = (
        nbeta.view(-1).double() * (loss_sum / done - init_rows.double())
        if done > 0
        else torch.full_like(loss_sum, math.nan)
    )
    with warnings.catch_warnings():  # all chains of a row diverged: NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        return SGLDProgress(
            step=step,
            total=total,
            loss=np.nanmean(loss.view(shape).double().cpu().numpy(), axis=-1),
            running_llc=np.nanmean(running.view(shape).cpu().numpy(), axis=-1),
        )
