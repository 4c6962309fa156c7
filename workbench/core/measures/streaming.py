"""Streaming covariance accumulators: Gaussian measures over streams that never sit in memory.

Batches are folded into float64 running moments about a fixed shift (see ``_grouped``; merged
and left out with the pairwise update of Chan, Golub & LeVeque 1979, see ``_moments``), on the
device of the first batch (or the one given). Memory is O(dim²) whatever the stream length.
The scatter is computed in row strips of its upper tiles only, so a whole stream costs about
9/16 of one ``z^T z`` matmul over all samples for two 768-wide streams.

Where things are: :class:`StreamingCovariance` (one stream) is here;
:class:`~workbench.core.measures.streaming_joint.StreamingJointCovariance` (two paired streams,
Gaussian MI) in ``streaming_joint``; the jackknife in ``streaming_jackknife``; the permutation
nulls in ``streaming_null``. Every public name is importable from this module.

Resampling without the data:

* Jackknife: with ``n_groups = G``, each group keeps its own moments. By default sample number i
  (counted over the whole stream) goes to group ``i mod G``; ``update(..., groups=...)`` gives
  each row's group explicitly instead, so correlated rows (the tokens of one sequence) can be
  kept in one group and left out together. Leaving group g out is the pairwise update
  run backwards, so the delete-a-group jackknife needs no second pass. G groups cost G times
  the memory, not more compute.
* Permutation null (joint accumulator): K within-batch shuffles of y, each kept as the change
  it makes to the cross scatter, so the null covariances need no second pass; ``null="parts"``
  gets all K from about P products instead of K. Exact statements, validity (exchangeable
  rows within each batch) and costs are in ``streaming_null``.
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
)
from workbench.core.measures.resampling import Interval
from workbench.core.measures.streaming_jackknife import (
    CovarianceStatistic,
    covariance_of,
    jackknife,
    require_groups,
)
from workbench.core.measures.streaming_joint import StreamingJointCovariance
from workbench.core.measures.streaming_null import NULL_SCHEMES, derangements

__all__ = [
    "NULL_SCHEMES",
    "CovarianceStatistic",
    "StreamingCovariance",
    "StreamingJointCovariance",
    "derangements",
]


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
        return covariance_of(self._moments.total(), "the covariance")

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
        return jackknife(self._moments, statistic, level)

    def gaussian_entropy_interval(
        self, level: float = 0.95, *, bias_correction: bool = True
    ) -> Interval:
        """Jackknife interval for the Gaussian entropy (bits) of the stream."""
        require_groups(self._moments)
        ridge = self.gaussian_entropy_details(bias_correction=bias_correction).ridge
        return self.jackknife_interval(
            lambda cov, n: (
                gaussian_entropy_from_covariance(
                    cov, n, bias_correction=bias_correction, ridge=ridge
                ).bits
            ),
            level,
        )
