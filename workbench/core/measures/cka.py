"""Linear centred kernel alignment (CKA): similarity of two representations of the same inputs."""

from __future__ import annotations

import torch

from workbench.core.measures._arrays import Array, as_float, check_paired, resolve_device

__all__ = ["linear_cka"]


def _hsic_terms(xc: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
    """``tr(K L)`` for centred features, ``K = xc xc^T``, ``L = yc yc^T``, by the cheaper side.

    ``tr(K L) = ||xc^T yc||_F²`` costs O(n d_x d_y); the Gram form ``sum(K * L)`` costs
    O(n² (d_x + d_y)) and wins when there are fewer samples than features.
    """
    n, dx = xc.shape
    dy = yc.shape[1]
    if n * n * (dx + dy) < n * dx * dy:
        return ((xc @ xc.T) * (yc @ yc.T)).sum()
    return (xc.T @ yc).square().sum()


def _debiased(xc: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC (Song et al., 2012, eq. 5) times n(n - 3), for centred linear kernels.

    With ``K̃``, ``L̃`` the Gram matrices with zeroed diagonals::

        HSIC_u = [tr(K̃ L̃) + 1ᵀK̃1 1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) 1ᵀK̃L̃1] / (n(n-3))

    HSIC_u is a U-statistic, unchanged by centring the features, and centred features have
    ``K 1 = 0``, so ``1ᵀK̃1 = -tr K`` and ``1ᵀK̃L̃1 = sum_i K_ii L_ii``, giving::

        n(n-3) HSIC_u = tr(K L) - n/(n-2) sum_i K_ii L_ii + tr K tr L / ((n-1)(n-2))

    which needs no n x n matrix.
    """
    n = xc.shape[0]
    kd = xc.square().sum(dim=1)  # (n,) diagonal of K: squared norms of the samples
    ld = yc.square().sum(dim=1)
    return (
        _hsic_terms(xc, yc)
        - n / (n - 2) * (kd * ld).sum()
        + kd.sum() * ld.sum() / ((n - 1) * (n - 2))
    )


def linear_cka(x: Array, y: Array, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same samples (Kornblith et al., 2019).

    With centred features ``X̃`` (n, d_x), ``Ỹ`` (n, d_y), linear kernels ``K = X̃X̃ᵀ``,
    ``L = ỸỸᵀ`` and ``HSIC(K, L) ∝ tr(K L) = ||X̃ᵀỸ||_F²``::

        CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

    It lies in [0, 1], is 1 for ``Y = X`` (self-similarity), and is invariant to orthogonal maps
    and isotropic scaling of either side (not to general invertible linear maps). The plug-in
    HSIC is biased for finite n, so CKA of independent representations is above 0, much more so
    when features outnumber samples. ``debiased=True`` uses the unbiased HSIC estimator (Song et
    al., 2012), as in Nguyen, Raghu & Kornblith (2021); the debiased value can be slightly
    negative and is still exactly 1 for ``Y = X``.

    Args:
        x: (n_samples, d_x) activations, numpy or torch on any device.
        y: (n_samples, d_y) activations of the same samples, same order.
        debiased: Use the unbiased HSIC estimator (needs n_samples >= 4).

    Returns:
        CKA, dimensionless.

    Raises:
        ValueError: On NaN/inf, empty or unpaired input, constant input (CKA is 0/0), too few
            samples for the debiased estimator, or a non-positive debiased self-HSIC.
    """
    device = resolve_device(x, y)
    tx = as_float(x, "x", promote_1d=True, device=device)
    ty = as_float(y, "y", promote_1d=True, device=device)
    n = check_paired(("x", tx), ("y", ty))
    xc, yc = tx - tx.mean(dim=0), ty - ty.mean(dim=0)
    for name, t in (("x", xc), ("y", yc)):
        if not bool(t.abs().amax() > 0):
            raise ValueError(f"{name} is constant across samples; CKA is undefined (0/0)")
    if not debiased:
        xy, xx, yy = _hsic_terms(xc, yc), _hsic_terms(xc, xc), _hsic_terms(yc, yc)
        return float(xy / torch.sqrt(xx * yy))
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 samples; got {n}")
    xy, xx, yy = _debiased(xc, yc), _debiased(xc, xc), _debiased(yc, yc)
    if not (float(xx) > 0 and float(yy) > 0):
        raise ValueError(
            "debiased CKA is undefined here: the unbiased HSIC of x or y with itself is <= 0; "
            "pass more samples or use debiased=False"
        )
    return float(xy / torch.sqrt(xx * yy))
