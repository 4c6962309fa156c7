"""Streaming covariance accumulators: Gaussian measures over streams that never sit in memory.

Batches are folded into float64 running moments with the pairwise update of Chan, Golub &
LeVeque (1979) (see ``_moments``), on the device of the first batch (or the one given). Memory is
O(dim²) whatever the stream length. The scatter is computed in column tiles, upper tiles only,
so a whole stream costs less than one ``z^T z`` matmul over all samples, the compute floor
(about 10/16 of it for two 768-wide streams).

Resampling without the data:

* Jackknife: with ``n_groups = G``, each group keeps its own moments. By default sample number i
  (counted over the whole stream) goes to group ``i mod G``; ``update(..., groups=...)`` gives
  each row's group explicitly instead, so correlated rows (the tokens of one sequence) can be
  kept in one group and left out together. Leaving group g out is the pairwise update
  run backwards, so the delete-a-group jackknife needs no second pass. G groups cost G times
  the memory, not more compute.
* Permutation null (joint accumulator): with ``n_permutations = K``, each batch also
  accumulates, for K random within-batch permutations π_k of y's rows,
  ``Δ_k += x̃^T (ỹ[π_k] - ỹ)`` (x̃, ỹ centred on the batch means). Permuting within a batch leaves
  every batch mean unchanged, so the cross scatter of the permuted stream is exactly
  ``M2_xy + Δ_k``: the null is the permutation test restricted to within-batch shuffles. It is
  valid when samples are exchangeable within each batch; use batches of hundreds of samples
  or more so each shuffle mixes well. Each shuffle costs one ``dim_x x batch x dim_y`` product.
* Cheap null (``null="parts"``, P parts): each batch's rows are put in a random order ρ and cut
  into P equal parts; one product gives every part-by-part cross scatter
  ``C_pq = x̃_pᵀ ỹ_q``, and shuffle k takes a random derangement σ_k of the parts (drawn afresh
  every batch): row i of part p is paired with row i of part σ_k(p), so
  ``Δ_k += Σ_p C_{p σ_k(p)} - Σ_p C_pp``. Every shuffle is a fixed-point-free within-batch
  permutation, drawn from the (P!)-sized family of part derangements composed with a uniform
  ρ, so under exchangeability each null replicate has the null's distribution exactly. K
  shuffles then cost about P products instead of K (4 instead of 19 for the defaults). The
  price: shuffles that drew the same derangement in a batch share its cross term, so they
  are positively correlated (about 1/J for J derangements, 1/9 at P = 4), and their mean
  estimates the bias less precisely than K independent shuffles would; the rejection rate
  under a planted null is tested to stay at the nominal level.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import Array, to_numpy
from workbench.core.measures._grouped import GroupedMoments
from workbench.core.measures._moments import Moments, remove
from workbench.core.measures.gaussian import (
    GaussianEstimate,
    gaussian_entropy_from_covariance,
    gaussian_mutual_information_from_covariance,
)
from workbench.core.measures.resampling import (
    Interval,
    PermutationTest,
    jackknife_summary,
    permutation_summary,
)

__all__ = [
    "NULL_SCHEMES",
    "CovarianceStatistic",
    "StreamingCovariance",
    "StreamingJointCovariance",
    "derangements",
]

#: The null schemes of :class:`StreamingJointCovariance`.
NULL_SCHEMES = ("shuffle", "parts")

#: ``statistic(covariance, n_samples) -> float``, covariance a (D, D) float64 tensor.
CovarianceStatistic = Callable[[torch.Tensor, int], float]


def _covariance(moments: Moments, what: str) -> torch.Tensor:
    if moments.n < 2:
        raise ValueError(f"{what} needs at least 2 samples; the accumulator has {moments.n}")
    return moments.m2 / (moments.n - 1)


class StreamingCovariance:
    """Running float64 mean and covariance of a stream of (batch, dim) arrays.

    Example::

        acc = StreamingCovariance(768)
        for acts in batches:          # each (batch, 768), numpy or torch, CPU or CUDA
            acc.update(acts)
        acc.gaussian_entropy(), acc.spectrum()

    Args:
        dim: Number of features per sample.
        device: Where to accumulate; ``None`` uses the device of the first batch.
        n_groups: Groups kept for the delete-a-group jackknife (1 = none); rows go round robin
            unless ``update`` is given ``groups``.
    """

    def __init__(
        self, dim: int, *, device: str | torch.device | None = None, n_groups: int = 1
    ) -> None:
        self._moments = GroupedMoments(
            [dim], n_groups, None if device is None else torch.device(device)
        )

    @property
    def n(self) -> int:
        """Number of samples seen."""
        return self._moments.n

    @property
    def dim(self) -> int:
        """Number of features per sample."""
        return self._moments.dims[0]

    def update(self, batch: Array, *, groups: Array | None = None) -> None:
        """Add a batch of samples.

        Args:
            batch: (batch, dim) samples (or (batch,) when dim is 1), numpy or torch.
            groups: Optional (batch,) integers in [0, n_groups): the jackknife group of each
                row, e.g. the index of the sequence a token came from, mod ``n_groups``, so
                correlated rows are left out together. ``None`` (default) is round robin over
                the whole stream.

        Raises:
            ValueError: On a wrong width, empty batch, NaN/inf, or groups of the wrong
                shape, type or range.
        """
        (tb,) = self._moments.blocks_of((batch,), ("batch",))
        self._moments.update([tb], self._moments.check_groups(groups, tb.shape[0]))

    def merge(self, other: StreamingCovariance) -> None:
        """Add the samples accumulated by another accumulator (e.g. from another worker)."""
        self._moments.merge_from(other._moments)

    def mean(self) -> npt.NDArray[np.float64]:
        """(dim,) running mean."""
        return to_numpy(self._moments.total().mean)

    def covariance_tensor(self) -> torch.Tensor:
        """(dim, dim) float64 sample covariance ``M2 / (n - 1)`` on the accumulator's device."""
        return _covariance(self._moments.total(), "the covariance")

    def covariance(self) -> npt.NDArray[np.float64]:
        """(dim, dim) sample covariance ``M2 / (n - 1)`` as a numpy array."""
        return to_numpy(self.covariance_tensor())

    def spectrum(self) -> npt.NDArray[np.float64]:
        """(dim,) covariance eigenvalues in descending order (see ``covariance_spectrum``)."""
        from workbench.core.measures.spectra import eigenvalues_descending

        return eigenvalues_descending(self.covariance_tensor())

    def gaussian_entropy_details(
        self, *, bias_correction: bool = True, ridge: float | None = None
    ) -> GaussianEstimate:
        """Gaussian entropy of the stream with plug-in value and ridge (see ``gaussian``)."""
        return gaussian_entropy_from_covariance(
            self.covariance_tensor(), self.n, bias_correction=bias_correction, ridge=ridge
        )

    def gaussian_entropy(
        self, bias_correction: bool = True, *, ridge: float | None = None
    ) -> float:
        """Gaussian entropy of the stream in bits, as ``gaussian_entropy`` on all samples."""
        return self.gaussian_entropy_details(bias_correction=bias_correction, ridge=ridge).bits

    def jackknife_interval(self, statistic: CovarianceStatistic, level: float = 0.95) -> Interval:
        """Delete-a-group jackknife interval for any function of the covariance.

        Args:
            statistic: ``statistic(cov, n_samples) -> float``, cov a (dim, dim) float64 tensor.
            level: Nominal coverage in (0, 1).

        Returns:
            An :class:`~workbench.core.measures.resampling.Interval`.

        Raises:
            ValueError: If the accumulator was made with fewer than 2 groups.
        """
        return _jackknife(self._moments, statistic, level)

    def gaussian_entropy_interval(
        self, level: float = 0.95, *, bias_correction: bool = True
    ) -> Interval:
        """Jackknife interval for the Gaussian entropy (bits) of the stream."""
        _require_groups(self._moments)
        ridge = self.gaussian_entropy_details(bias_correction=bias_correction).ridge
        return self.jackknife_interval(
            lambda cov, n: (
                gaussian_entropy_from_covariance(
                    cov, n, bias_correction=bias_correction, ridge=ridge
                ).bits
            ),
            level,
        )


def _require_groups(moments: GroupedMoments) -> None:
    if moments.n_groups < 2:
        raise ValueError(
            "the jackknife needs the accumulator built with n_groups >= 2 (e.g. n_groups=10)"
        )


def _jackknife_values(
    moments: GroupedMoments, statistic: CovarianceStatistic
) -> tuple[float, npt.NDArray[np.float64]]:
    """The statistic on all samples and with each group left out (by subtraction)."""
    _require_groups(moments)
    total = moments.total()
    estimate = statistic(_covariance(total, "the jackknife"), total.n)
    leave_out = np.empty(moments.n_groups)
    for g in range(moments.n_groups):
        rest = remove(total, moments.group(g))
        leave_out[g] = statistic(_covariance(rest, "the jackknife"), rest.n)
    return estimate, leave_out


def _jackknife(moments: GroupedMoments, statistic: CovarianceStatistic, level: float) -> Interval:
    estimate, leave_out = _jackknife_values(moments, statistic)
    return jackknife_summary(estimate, leave_out, level)


def derangements(parts: int) -> torch.Tensor:
    """``(n_derangements, parts)``: every permutation of ``range(parts)`` with no fixed point.

    ``derangements(3)`` is ``[[1, 2, 0], [2, 0, 1]]``; there are 1, 2, 9, 44, 265 for 2..6 parts.
    """
    if int(parts) != parts or not 2 <= parts <= 7:
        raise ValueError(f"null_parts must be an integer from 2 to 7; got {parts}")
    rows = [p for p in itertools.permutations(range(parts)) if all(a != b for a, b in enumerate(p))]
    return torch.tensor(rows, dtype=torch.int64)


class StreamingJointCovariance:
    """Running joint covariance of two paired streams x and y, for Gaussian MI.

    Only the upper tiles of the symmetric joint scatter are multiplied: about 10/16 of one
    ``z^T z`` on ``z = [x, y]`` for two 768-wide streams.

    Example::

        acc = StreamingJointCovariance(768, 768, n_groups=10, n_permutations=100)
        for x, y in stream:                    # (batch, 768) each, paired rows
            acc.update(x, y)
        acc.gaussian_mutual_information()      # bits, bias-corrected
        acc.permutation_test().p_value
        acc.gaussian_mutual_information_interval()

    Args:
        dim_x: Features of x per sample.
        dim_y: Features of y per sample.
        device: Where to accumulate; ``None`` uses the device of the first batch.
        n_groups: Groups kept for the delete-a-group jackknife (1 = none); rows go round robin
            unless ``update`` is given ``groups``.
        n_permutations: Within-batch permutations of y kept for the permutation null (0 = none).
        seed: Seed of this accumulator's ``torch.Generator`` for the permutations.
        null: ``"shuffle"`` (uniform within-batch permutations, one product each) or
            ``"parts"`` (random derangements of ``null_parts`` parts, about ``null_parts``
            products for all K; see the module docstring).
        null_parts: P for ``null="parts"`` (2 to 7).
    """

    def __init__(
        self,
        dim_x: int,
        dim_y: int,
        *,
        device: str | torch.device | None = None,
        n_groups: int = 1,
        n_permutations: int = 0,
        seed: int = 0,
        null: str = "shuffle",
        null_parts: int = 4,
    ) -> None:
        if int(n_permutations) != n_permutations or n_permutations < 0:
            raise ValueError(f"n_permutations must be an integer >= 0; got {n_permutations}")
        if null not in NULL_SCHEMES:
            raise ValueError(f"null must be one of {NULL_SCHEMES}; got {null!r}")
        self.null = null
        self._derangements = derangements(null_parts) if null == "parts" else None
        self.null_parts = int(null_parts)
        self._moments = GroupedMoments(
            [dim_x, dim_y], n_groups, None if device is None else torch.device(device)
        )
        self.n_permutations = int(n_permutations)
        self._seed = seed
        self._generator: torch.Generator | None = None
        self._perm_delta: torch.Tensor | None = None  # (K, dim_x, dim_y)

    @property
    def n(self) -> int:
        """Number of sample pairs seen."""
        return self._moments.n

    @property
    def dims(self) -> tuple[int, int]:
        """(dim_x, dim_y)."""
        return self._moments.dims[0], self._moments.dims[1]

    def update(self, x: Array, y: Array, *, groups: Array | None = None) -> None:
        """Add a batch of paired samples.

        Args:
            x: (batch, dim_x) samples, numpy or torch.
            y: (batch, dim_y) samples, row i paired with row i of x.
            groups: Optional (batch,) integers in [0, n_groups): the jackknife group of each
                pair (see :meth:`StreamingCovariance.update`). ``None`` (default) is round
                robin over the whole stream. The permutation null does not depend on it.

        Raises:
            ValueError: On wrong widths, different batch sizes, empty batches, NaN/inf, or
                groups of the wrong shape, type or range.
        """
        tx, ty = self._moments.blocks_of((x, y), ("x", "y"))
        self._moments.update([tx, ty], self._moments.check_groups(groups, tx.shape[0]))
        if self.n_permutations:
            self._update_permutations(tx, ty)

    def _update_permutations(self, x: torch.Tensor, y: torch.Tensor) -> None:
        size = x.shape[0]
        if self._generator is None:
            self._generator = torch.Generator(device=x.device).manual_seed(self._seed)
            self._perm_delta = torch.zeros(
                self.n_permutations, *self.dims, dtype=torch.float64, device=x.device
            )
        assert self._perm_delta is not None
        if self._derangements is not None:
            self._update_parts(x, y)
            return
        # K independent within-batch permutations at once: argsort of uniform noise.
        noise = torch.rand(self.n_permutations, size, generator=self._generator, device=x.device)
        perms = noise.argsort(dim=1)  # (K, batch)
        xc = x - x.mean(dim=0)
        yc = y - y.mean(dim=0)
        # Δ_k += x̃^T (ỹ[π_k] - ỹ): (dim_x, batch) @ (K, batch, dim_y) -> (K, dim_x, dim_y)
        self._perm_delta += torch.matmul(xc.T, yc[perms] - yc)

    def _update_parts(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The cheap null: every part-by-part cross scatter from one product (module docstring)."""
        assert self._perm_delta is not None and self._derangements is not None
        parts = self.null_parts
        size = x.shape[0]
        r = size // parts  # rows per part; the last size mod P rows keep their partners
        if r == 0:
            raise ValueError(
                f"null='parts' needs at least null_parts = {parts} rows per batch; got {size}"
            )
        dx, dy = self.dims
        gen = self._generator
        order = torch.randperm(size, generator=gen, device=x.device)[: parts * r]  # ρ
        which = torch.randint(
            0, self._derangements.shape[0], (self.n_permutations,), generator=gen, device=x.device
        )  # derangement of each shuffle, this batch
        xc = (x - x.mean(dim=0))[order].view(parts, r, dx)
        yc = (y - y.mean(dim=0))[order].view(parts, r, dy)
        # C[p, q] = x̃_pᵀ ỹ_q for every pair of parts at once, laid out (P, P, dx, dy).
        c = torch.matmul(xc.transpose(1, 2)[:, None], yc[None])
        # Δ_k += Σ_pq W_k[p, q] C[p, q] with W_k = (permutation matrix of σ_k) - I: one
        # (K, P²) @ (P², dx dy) product, no gathers.
        sigma = self._derangements.to(x.device)[which]  # (K, P)
        weights = torch.zeros(self.n_permutations, parts, parts, dtype=c.dtype, device=x.device)
        weights.scatter_(2, sigma[:, :, None], 1.0)  # W_k[p, σ_k(p)] = 1
        weights -= torch.eye(parts, dtype=c.dtype, device=x.device)
        self._perm_delta.view(self.n_permutations, -1).addmm_(
            weights.view(self.n_permutations, -1), c.view(parts * parts, -1)
        )

    def nbytes(self) -> int:
        """Bytes held: the group moments plus the K null cross terms."""
        held = self._moments.nbytes()
        if self._perm_delta is not None:
            held += self._perm_delta.numel() * 8
        return held

    def jackknife_values(
        self, statistic: CovarianceStatistic
    ) -> tuple[float, npt.NDArray[np.float64]]:
        """``(θ, θ_(g))``: a statistic of the joint covariance on all pairs and with each
        jackknife group left out, e.g. to combine paired accumulators that share groups."""
        return _jackknife_values(self._moments, statistic)

    def merge(self, other: StreamingJointCovariance) -> None:
        """Add the pairs accumulated by another accumulator with the same settings."""
        if other.n_permutations != self.n_permutations:
            raise ValueError("can only merge accumulators with the same n_permutations")
        self._moments.merge_from(other._moments)
        if other._perm_delta is not None:
            delta = other._perm_delta.to(self._moments.device)
            self._perm_delta = (
                delta.clone() if self._perm_delta is None else self._perm_delta + delta
            )

    def mean(self) -> npt.NDArray[np.float64]:
        """(dim_x + dim_y,) running mean of the concatenated pair."""
        return to_numpy(self._moments.total().mean)

    def covariance_tensor(self) -> torch.Tensor:
        """(dim_x + dim_y, dim_x + dim_y) float64 joint sample covariance, on the device."""
        return _covariance(self._moments.total(), "the covariance")

    def covariance(self) -> npt.NDArray[np.float64]:
        """Joint sample covariance ``M2 / (n - 1)`` of (x, y) as a numpy array."""
        return to_numpy(self.covariance_tensor())

    def gaussian_mutual_information_details(
        self, *, bias_correction: bool = True, ridge: float | None = None
    ) -> GaussianEstimate:
        """Gaussian MI of the streams with plug-in value and ridge (see ``gaussian``)."""
        return gaussian_mutual_information_from_covariance(
            self.covariance_tensor(),
            self.dims[0],
            self.n,
            bias_correction=bias_correction,
            ridge=ridge,
        )

    def gaussian_mutual_information(
        self, bias_correction: bool = True, *, ridge: float | None = None
    ) -> float:
        """Gaussian MI of the streams in bits, as ``gaussian_mutual_information`` on all pairs."""
        return self.gaussian_mutual_information_details(
            bias_correction=bias_correction, ridge=ridge
        ).bits

    def gaussian_entropy(
        self, which: str = "x", bias_correction: bool = True, *, ridge: float | None = None
    ) -> float:
        """Gaussian entropy in bits of ``"x"``, ``"y"`` or the ``"joint"`` pair."""
        dx = self.dims[0]
        blocks = {"x": slice(0, dx), "y": slice(dx, None), "joint": slice(None)}
        if which not in blocks:
            raise ValueError(f"which must be 'x', 'y' or 'joint'; got {which!r}")
        cov = self.covariance_tensor()[blocks[which], blocks[which]]
        return gaussian_entropy_from_covariance(
            cov, self.n, bias_correction=bias_correction, ridge=ridge
        ).bits

    def spectrum(self, which: str = "x") -> npt.NDArray[np.float64]:
        """Covariance eigenvalues (descending) of ``"x"``, ``"y"`` or the ``"joint"`` pair."""
        from workbench.core.measures.spectra import eigenvalues_descending

        dx = self.dims[0]
        blocks = {"x": slice(0, dx), "y": slice(dx, None), "joint": slice(None)}
        if which not in blocks:
            raise ValueError(f"which must be 'x', 'y' or 'joint'; got {which!r}")
        return eigenvalues_descending(self.covariance_tensor()[blocks[which], blocks[which]])

    def jackknife_interval(self, statistic: CovarianceStatistic, level: float = 0.95) -> Interval:
        """Delete-a-group jackknife interval for any function of the joint covariance."""
        return _jackknife(self._moments, statistic, level)

    def gaussian_mutual_information_interval(
        self, level: float = 0.95, *, bias_correction: bool = True
    ) -> Interval:
        """Jackknife interval for the Gaussian MI (bits); needs ``n_groups >= 2``."""
        _require_groups(self._moments)
        ridge = self.gaussian_mutual_information_details(bias_correction=bias_correction).ridge
        dx = self.dims[0]
        return self.jackknife_interval(
            lambda cov, n: (
                gaussian_mutual_information_from_covariance(
                    cov, dx, n, bias_correction=bias_correction, ridge=ridge
                ).bits
            ),
            level,
        )

    def permutation_test(self, *, bias_correction: bool = True) -> PermutationTest:
        """Permutation null of the Gaussian MI from the within-batch shuffles of y.

        Returns:
            A :class:`~workbench.core.measures.resampling.PermutationTest` in bits.

        Raises:
            ValueError: If the accumulator was made with ``n_permutations=0``.
        """
        if not self.n_permutations or self._perm_delta is None:
            raise ValueError(
                "the permutation null needs StreamingJointCovariance(..., n_permutations=K) "
                "with K >= 1, set before the first update"
            )
        observed = self.gaussian_mutual_information_details(bias_correction=bias_correction)
        total = self._moments.total()
        dx = self.dims[0]
        null = np.empty(self.n_permutations)
        for k in range(self.n_permutations):
            m2 = total.m2.clone()
            m2[:dx, dx:] += self._perm_delta[k]
            m2[dx:, :dx] += self._perm_delta[k].T
            null[k] = gaussian_mutual_information_from_covariance(
                m2 / (total.n - 1),
                dx,
                total.n,
                bias_correction=bias_correction,
                ridge=observed.ridge,
            ).bits
        return permutation_summary(observed.bits, null)
