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
  or more so each shuffle mixes well.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import Array, as_float, check_paired, to_numpy
from workbench.core.measures._moments import (
    Moments,
    add_scatter_,
    merge,
    mirror_blocks_,
    remove,
    tile_edges,
)
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

__all__ = ["CovarianceStatistic", "StreamingCovariance", "StreamingJointCovariance"]

#: ``statistic(covariance, n_samples) -> float``, covariance a (D, D) float64 tensor.
CovarianceStatistic = Callable[[torch.Tensor, int], float]


class _GroupedMoments:
    """Running moments of feature blocks, split into jackknife groups (see module docstring)."""

    def __init__(self, dims: list[int], n_groups: int, device: torch.device | None) -> None:
        if int(n_groups) != n_groups or n_groups < 1:
            raise ValueError(f"n_groups must be an integer >= 1; got {n_groups}")
        for d in dims:
            if int(d) != d or d < 1:
                raise ValueError(f"dimensions must be integers >= 1; got {dims}")
        self.dims = list(dims)
        self.edges = tile_edges(self.dims)
        self.n_groups = int(n_groups)
        self.device = device
        self.counts = [0] * self.n_groups
        self.means: list[torch.Tensor] = []
        self.m2s: list[torch.Tensor] = []
        self.n = 0

    def _allocate(self, device: torch.device) -> None:
        total = self.edges[-1]
        self.device = device
        for _ in range(self.n_groups):
            self.means.append(torch.zeros(total, dtype=torch.float64, device=device))
            self.m2s.append(torch.zeros(total, total, dtype=torch.float64, device=device))

    def blocks_of(self, arrays: tuple[object, ...], names: tuple[str, ...]) -> list[torch.Tensor]:
        """Validate one batch (one array per block) and move it to the accumulator's device."""
        blocks = []
        for array, name, dim in zip(arrays, names, self.dims, strict=True):
            t = as_float(
                array, name, promote_1d=dim == 1, device=self.device, shape_doc=f"(batch, {dim})"
            )
            if t.shape[1] != dim:
                raise ValueError(f"{name} must have {dim} features per sample; got {t.shape[1]}")
            blocks.append(t)
        check_paired(*zip(names, blocks, strict=True))
        return blocks

    def check_groups(self, groups: object, size: int) -> torch.Tensor | None:
        """Validate explicit per-row groups: integers of shape (size,) in [0, n_groups)."""
        if groups is None:
            return None
        if isinstance(groups, torch.Tensor):
            t = groups.detach()
        else:
            try:
                t = torch.as_tensor(np.asarray(groups))
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"groups must be an integer array of shape ({size},); got {groups!r}"
                ) from err
        if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise ValueError(
                f"groups must hold integers (one group index per row); got dtype {t.dtype}"
            )
        if tuple(t.shape) != (size,):
            raise ValueError(
                f"groups must have shape ({size},), one group per row of the batch; "
                f"got shape {tuple(t.shape)}"
            )
        low, high = int(t.min()), int(t.max())
        if low < 0 or high >= self.n_groups:
            raise ValueError(
                f"groups must lie in [0, n_groups) = [0, {self.n_groups}); "
                f"got values from {low} to {high}"
            )
        return t

    def update(self, blocks: list[torch.Tensor], groups: torch.Tensor | None = None) -> None:
        """Fold one batch (feature blocks with the same rows) into the group moments.

        ``groups`` (from :meth:`check_groups`) gives each row's group; ``None`` is round robin.
        """
        if not self.m2s:
            self._allocate(blocks[0].device)
        size = blocks[0].shape[0]
        if groups is None:
            # Rows i of this batch with (n + i) mod G == g: a strided slice, no copy.
            parts = [
                [b[(g - self.n) % self.n_groups :: self.n_groups] for b in blocks]
                for g in range(self.n_groups)
            ]
        else:
            # A stable sort keeps each group's rows in stream order; one gather per block.
            groups = groups.to(device=blocks[0].device, dtype=torch.int64)
            order = torch.argsort(groups, stable=True)
            counts = torch.bincount(groups, minlength=self.n_groups).tolist()
            ordered = [b.index_select(0, order) for b in blocks]
            split = [torch.split(b, counts) for b in ordered]
            parts = [[s[g] for s in split] for g in range(self.n_groups)]
        for g, part in enumerate(parts):
            n_part = part[0].shape[0]
            if n_part == 0:
                continue
            block_means = [p.mean(dim=0) for p in part]
            part_mean = torch.cat(block_means)
            n_old = self.counts[g]
            n_new = n_old + n_part
            delta = part_mean - self.means[g]
            # Chan et al.: M2 += M2_batch + δ δ^T n_old n_part / n_new, in place.
            if n_old > 0:
                self.m2s[g].addr_(delta, delta, alpha=n_old * n_part / n_new)
            centred = [p - m for p, m in zip(part, block_means, strict=True)]
            add_scatter_(self.m2s[g], centred, self.edges)
            self.means[g].add_(delta, alpha=n_part / n_new)
            self.counts[g] = n_new
        self.n += size

    def group(self, g: int) -> Moments:
        """Moments of group g, copied so later updates cannot change them."""
        m2 = mirror_blocks_(self.m2s[g].clone(), self.edges)
        return Moments(n=self.counts[g], mean=self.means[g].clone(), m2=m2)

    def total(self) -> Moments:
        out = self.group(0)
        for g in range(1, self.n_groups):
            out = merge(out, self.group(g))
        return out

    def merge_from(self, other: _GroupedMoments) -> None:
        """Fold another accumulator's groups into this one (group g into group g)."""
        if other.dims != self.dims or other.n_groups != self.n_groups:
            raise ValueError(
                "can only merge accumulators with the same dimensions and number of groups"
            )
        if other.n == 0:
            return
        if not self.m2s:
            self._allocate(other.m2s[0].device)
        for g in range(self.n_groups):
            theirs = other.group(g)
            moved = Moments(theirs.n, theirs.mean.to(self.device), theirs.m2.to(self.device))
            both = merge(self.group(g), moved)
            self.counts[g], self.means[g], self.m2s[g] = both.n, both.mean.clone(), both.m2.clone()
        self.n += other.n


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
        self._moments = _GroupedMoments(
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


def _require_groups(moments: _GroupedMoments) -> None:
    if moments.n_groups < 2:
        raise ValueError(
            "the jackknife needs the accumulator built with n_groups >= 2 (e.g. n_groups=10)"
        )


def _jackknife(moments: _GroupedMoments, statistic: CovarianceStatistic, level: float) -> Interval:
    _require_groups(moments)
    total = moments.total()
    estimate = statistic(_covariance(total, "the jackknife"), total.n)
    leave_out = np.empty(moments.n_groups)
    for g in range(moments.n_groups):
        rest = remove(total, moments.group(g))
        leave_out[g] = statistic(_covariance(rest, "the jackknife"), rest.n)
    return jackknife_summary(estimate, leave_out, level)


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
    ) -> None:
        if int(n_permutations) != n_permutations or n_permutations < 0:
            raise ValueError(f"n_permutations must be an integer >= 0; got {n_permutations}")
        self._moments = _GroupedMoments(
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
        # K independent within-batch permutations at once: argsort of uniform noise.
        noise = torch.rand(self.n_permutations, size, generator=self._generator, device=x.device)
        perms = noise.argsort(dim=1)  # (K, batch)
        xc = x - x.mean(dim=0)
        yc = y - y.mean(dim=0)
        # Δ_k += x̃^T (ỹ[π_k] - ỹ): (dim_x, batch) @ (K, batch, dim_y) -> (K, dim_x, dim_y)
        self._perm_delta += torch.matmul(xc.T, yc[perms] - yc)

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
