"""The running joint covariance of two paired streams: Gaussian MI, its jackknife and its null.

Moments of ``z = [x, y]`` are kept per jackknife group (:mod:`~workbench.core.measures._grouped`),
the within-batch permutation null beside them (:mod:`~workbench.core.measures.streaming_null`),
and every estimate is read off the joint covariance (overview in
:mod:`~workbench.core.measures.streaming`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import Array, to_numpy
from workbench.core.measures._grouped import GroupedMoments
from workbench.core.measures.gaussian_covariance import (
    GaussianEstimate,
    gaussian_entropy_from_covariance,
    gaussian_mutual_information_from_covariance,
)
from workbench.core.measures.resampling import Interval, PermutationTest, permutation_summary
from workbench.core.measures.streaming_jackknife import (
    CovarianceStatistic,
    covariance_of,
    jackknife,
    jackknife_values,
    require_groups,
)
from workbench.core.measures.streaming_null import WithinBatchNull

__all__ = ["StreamingJointCovariance"]


class StreamingJointCovariance:
    """Running joint covariance of two paired streams x and y, for Gaussian MI.

    Only the upper tiles of the symmetric joint scatter are multiplied: about 9/16 of one
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
            products for all K; see :mod:`~workbench.core.measures.streaming_null`).
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
        self._null = WithinBatchNull(
            int(n_permutations), (dim_x, dim_y), seed=seed, null=null, null_parts=null_parts
        )
        self.null = null
        self.null_parts = int(null_parts)
        self.n_permutations = int(n_permutations)
        self._moments = GroupedMoments(
            [dim_x, dim_y], n_groups, None if device is None else torch.device(device)
        )

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
            self._null.update(tx, ty)

    def nbytes(self) -> int:
        """Bytes held: the group moments plus the K null cross terms."""
        return self._moments.nbytes() + self._null.nbytes()

    def jackknife_values(
        self, statistic: CovarianceStatistic
    ) -> tuple[float, npt.NDArray[np.float64]]:
        """``(θ, θ_(g))``: a statistic of the joint covariance on all pairs and with each
        jackknife group left out, e.g. to combine paired accumulators that share groups."""
        return jackknife_values(self._moments, statistic)

    def merge(self, other: StreamingJointCovariance) -> None:
        """Add the pairs accumulated by another accumulator with the same settings."""
        if other.n_permutations != self.n_permutations:
            raise ValueError("can only merge accumulators with the same n_permutations")
        self._moments.merge_from(other._moments)
        self._null.merge_from(other._null, self._moments.device)

    def mean(self) -> npt.NDArray[np.float64]:
        """(dim_x + dim_y,) running mean of the concatenated pair."""
        return to_numpy(self._moments.total().mean)

    def covariance_tensor(self) -> torch.Tensor:
        """(dim_x + dim_y, dim_x + dim_y) float64 joint sample covariance, on the device."""
        return covariance_of(self._moments.total(), "the covariance")

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
        return jackknife(self._moments, statistic, level)

    def gaussian_mutual_information_interval(
        self, level: float = 0.95, *, bias_correction: bool = True
    ) -> Interval:
        """Jackknife interval for the Gaussian MI (bits); needs ``n_groups >= 2``."""
        require_groups(self._moments)
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
        if not self.n_permutations or self._null.delta is None:
            raise ValueError(
                "the permutation null needs StreamingJointCovariance(..., n_permutations=K) "
                "with K >= 1, set before the first update"
            )
        observed = self.gaussian_mutual_information_details(bias_correction=bias_correction)
        total = self._moments.total()
        null = np.empty(self.n_permutations)
        for k in range(self.n_permutations):
            null[k] = gaussian_mutual_information_from_covariance(
                self._null.replicate(total.m2, k) / (total.n - 1),
                self.dims[0],
                total.n,
                bias_correction=bias_correction,
                ridge=observed.ridge,
            ).bits
        return permutation_summary(observed.bits, null)
