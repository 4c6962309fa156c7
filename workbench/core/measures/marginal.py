"""Per-feature central moments of a stream up to the fourth: skewness and kurtosis.

How Gaussian are the marginals? The Gaussian MI's bias correction and its meaning lean on
it, so streams report per-feature excess kurtosis ``g₂ = n M₄ / M₂² - 3`` (0 for a Gaussian,
-1.2 for a uniform, 3 for a Laplace) and skewness ``g₁ = √n M₃ / M₂^{3/2}``, with
``M_p = Σ_i (x_i - x̄)^p``. These are the plug-in (biased) moment ratios, the same as
``scipy.stats.kurtosis(x, fisher=True, bias=True)`` and ``scipy.stats.skew(x, bias=True)``.

Batches are merged with the pairwise update of Pébay (2008, "Formulas for robust, one-pass
parallel computation of covariances and arbitrary-order statistical moments", Sandia
SAND2008-6212, eqs. 2.1-2.3), for ``δ = x̄_b - x̄_a`` and ``n = n_a + n_b``::

    M₂ = M₂a + M₂b + δ² n_a n_b / n
    M₃ = M₃a + M₃b + δ³ n_a n_b (n_a - n_b) / n² + 3 δ (n_a M₂b - n_b M₂a) / n
    M₄ = M₄a + M₄b + δ⁴ n_a n_b (n_a² - n_a n_b + n_b²) / n³
         + 6 δ² (n_a² M₂b + n_b² M₂a) / n² + 4 δ (n_a M₃b - n_b M₃a) / n

which never forms raw power sums, so it does not cancel catastrophically.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import Array, as_float, to_numpy

__all__ = ["StreamingMarginalMoments"]


class StreamingMarginalMoments:
    """Running per-feature mean and central moments M₂, M₃, M₄ (float64) of ``(batch, dim)``.

    Args:
        dim: Features per sample.
        device: Where to accumulate; ``None`` uses the first batch's device.
    """

    def __init__(self, dim: int, *, device: str | torch.device | None = None) -> None:
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be an integer >= 1; got {dim}")
        self.dim = int(dim)
        self.device = None if device is None else torch.device(device)
        self.n = 0
        self._m: torch.Tensor | None = None  # (4, dim): mean, M2, M3, M4

    def update(self, batch: Array) -> None:
        """Fold a ``(batch, dim)`` array (numpy or torch) into the moments."""
        t = as_float(batch, "batch", promote_1d=self.dim == 1, device=self.device)
        if t.shape[1] != self.dim:
            raise ValueError(f"batch must have {self.dim} features per sample; got {t.shape[1]}")
        nb = t.shape[0]
        mean_b = t.mean(dim=0)
        c = t - mean_b
        c2 = c * c
        b = torch.stack([mean_b, c2.sum(0), (c2 * c).sum(0), (c2 * c2).sum(0)])
        if self._m is None:
            self.device = t.device
            self._m, self.n = b, nb
            return
        na, m = self.n, self._m
        n = na + nb
        d = b[0] - m[0]
        m2 = m[1] + b[1] + d**2 * na * nb / n
        m3 = m[2] + b[2] + d**3 * na * nb * (na - nb) / n**2 + 3.0 * d * (na * b[1] - nb * m[1]) / n
        m4 = (
            m[3]
            + b[3]
            + d**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
            + 6.0 * d**2 * (na * na * b[1] + nb * nb * m[1]) / n**2
            + 4.0 * d * (na * b[2] - nb * m[2]) / n
        )
        self._m = torch.stack([m[0] + d * nb / n, m2, m3, m4])
        self.n = n

    def _moments(self) -> torch.Tensor:
        if self._m is None or self.n < 2:
            raise ValueError(f"the moments need at least 2 samples; the accumulator has {self.n}")
        return self._m

    def excess_kurtosis(self) -> npt.NDArray[np.float64]:
        """(dim,) ``g₂ = n M₄ / M₂² - 3`` per feature; NaN for a constant feature."""
        m = self._moments()
        with np.errstate(invalid="ignore", divide="ignore"):
            m2, m4 = to_numpy(m[1]), to_numpy(m[3])
            return np.where(m2 > 0, self.n * m4 / np.where(m2 > 0, m2, 1.0) ** 2 - 3.0, np.nan)

    def skewness(self) -> npt.NDArray[np.float64]:
        """(dim,) ``g₁ = √n M₃ / M₂^{3/2}`` per feature; NaN for a constant feature."""
        m = self._moments()
        m2, m3 = to_numpy(m[1]), to_numpy(m[2])
        safe = np.where(m2 > 0, m2, 1.0)
        return np.where(m2 > 0, np.sqrt(self.n) * m3 / safe**1.5, np.nan)

    def variance(self) -> npt.NDArray[np.float64]:
        """(dim,) sample variance ``M₂ / (n - 1)``."""
        m = self._moments()
        return to_numpy(m[1]) / (self.n - 1)
