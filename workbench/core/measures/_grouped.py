"""Running moments of feature blocks split into jackknife groups, folded in one batched pass.

The G groups' scatter matrices live in one ``(G, D, D)`` float64 tensor. A batch is folded in
three steps, whatever G is:

1. per-row group indices give per-group counts and means with one ``index_add_``;
2. the rows, centred on their group's batch mean, are sorted by group into a zero-padded
   ``(G, rows_per_group, D)`` tensor (padding rows are 0, so they add nothing);
3. ``M2_g += Z_gᵀ Z_g + δ_g δ_gᵀ n_old n_part / n_new`` for every g at once with two in-place
   ``baddbmm_`` calls (Chan, Golub & LeVeque 1979; see ``_moments``), so no ``(G, D, D)``
   temporary is made.

The cost is one ``n × D × D`` product per batch (the flops of a single scatter of the whole
batch) in one kernel call, instead of G small calls: groups add memory (G D² floats), not time.
With G = 1 the scatter uses the upper tiles only (``add_scatter_``), about 10/16 of a full
product for two 768-wide blocks.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.core.measures._arrays import as_float, check_paired
from workbench.core.measures._moments import Moments, add_scatter_, mirror_blocks_, tile_edges

__all__ = ["GroupedMoments"]


class GroupedMoments:
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
        self.counts = torch.zeros(self.n_groups, dtype=torch.int64)
        self.means: torch.Tensor | None = None  # (G, D)
        self.m2s: torch.Tensor | None = None  # (G, D, D)
        self.n = 0

    @property
    def width(self) -> int:
        """D, the total number of features."""
        return self.edges[-1]

    def nbytes(self) -> int:
        """Bytes held by the group moments (0 before the first batch)."""
        if self.m2s is None or self.means is None:
            return 0
        return self.m2s.numel() * 8 + self.means.numel() * 8

    def _allocate(self, device: torch.device) -> None:
        self.device = device
        g, d = self.n_groups, self.width
        self.means = torch.zeros(g, d, dtype=torch.float64, device=device)
        self.m2s = torch.zeros(g, d, d, dtype=torch.float64, device=device)

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

        ``groups`` (from :meth:`check_groups`) gives each row's group; ``None`` is round robin
        over the whole stream (sample ``i`` in group ``i mod G``).
        """
        if self.m2s is None:
            self._allocate(blocks[0].device)
        assert self.m2s is not None and self.means is not None
        device = blocks[0].device
        size = blocks[0].shape[0]
        z = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)  # (size, D)
        if self.n_groups == 1:
            self._update_single(z)
            self.n += size
            return
        if groups is None:
            groups = (self.n + torch.arange(size, device=device)) % self.n_groups
        groups = groups.to(device=device, dtype=torch.int64)
        g_count = torch.bincount(groups, minlength=self.n_groups)  # (G,)
        # 1. Per-group batch means.
        sums = torch.zeros(self.n_groups, z.shape[1], dtype=z.dtype, device=device)
        sums.index_add_(0, groups, z)
        present = g_count > 0
        part_mean = sums / g_count.clamp(min=1)[:, None].to(z.dtype)
        # 2. Rows centred on their group's batch mean, sorted into (G, rows, D), zero-padded.
        order = torch.argsort(groups, stable=True)
        sorted_groups = groups[order]
        starts = torch.cumsum(g_count, 0) - g_count
        within = torch.arange(size, device=device) - starts[sorted_groups]
        rows = int(g_count.max())
        padded = torch.zeros(self.n_groups, rows, z.shape[1], dtype=z.dtype, device=device)
        padded[sorted_groups, within] = z[order] - part_mean[sorted_groups]
        # 3. Chan's merge for every group at once, in place.
        n_old = self.counts.to(device=device, dtype=z.dtype)
        n_part = g_count.to(z.dtype)
        n_new = n_old + n_part
        delta = torch.where(present[:, None], part_mean - self.means, 0.0)
        weight = torch.where(n_new > 0, n_old * n_part / n_new.clamp(min=1), 0.0)
        scaled = delta * weight.sqrt()[:, None]
        self.m2s.baddbmm_(scaled[:, :, None], scaled[:, None, :])
        self.m2s.baddbmm_(padded.transpose(1, 2), padded)
        self.means.add_(delta * torch.where(n_new > 0, n_part / n_new.clamp(min=1), 0.0)[:, None])
        self.counts += g_count.cpu()
        self.n += size

    def _update_single(self, z: torch.Tensor) -> None:
        assert self.m2s is not None and self.means is not None
        n_old, n_part = int(self.counts[0]), z.shape[0]
        n_new = n_old + n_part
        part_mean = z.mean(dim=0)
        delta = part_mean - self.means[0]
        if n_old > 0:
            self.m2s[0].addr_(delta, delta, alpha=n_old * n_part / n_new)
        centred = [z[:, a:b] - part_mean[a:b] for a, b in _block_ranges(self.dims)]
        add_scatter_(self.m2s[0], centred, self.edges)  # upper tiles; mirrored when read
        self.means[0].add_(delta, alpha=n_part / n_new)
        self.counts[0] += n_part

    def _m2(self, g: int) -> torch.Tensor:
        assert self.m2s is not None
        if self.n_groups == 1:
            return mirror_blocks_(self.m2s[0].clone(), self.edges)
        return self.m2s[g].clone()

    def group(self, g: int) -> Moments:
        """Moments of group g, copied so later updates cannot change them."""
        assert self.means is not None
        return Moments(n=int(self.counts[g]), mean=self.means[g].clone(), m2=self._m2(g))

    def total(self) -> Moments:
        """Moments of every sample: ``M2 = Σ_g M2_g + Σ_g n_g (μ_g - μ)(μ_g - μ)ᵀ``."""
        if self.m2s is None or self.means is None:
            raise ValueError("the accumulator has no samples yet")
        if self.n_groups == 1:
            return self.group(0)
        n_g = self.counts.to(device=self.means.device, dtype=torch.float64)
        n = float(n_g.sum())
        mean = (n_g[:, None] * self.means).sum(dim=0) / n
        spread = (self.means - mean) * n_g.sqrt()[:, None]  # (G, D)
        m2 = self.m2s.sum(dim=0) + spread.T @ spread
        return Moments(n=int(n), mean=mean, m2=m2)

    def merge_from(self, other: GroupedMoments) -> None:
        """Fold another accumulator's groups into this one (group g into group g)."""
        if other.dims != self.dims or other.n_groups != self.n_groups:
            raise ValueError(
                "can only merge accumulators with the same dimensions and number of groups"
            )
        if other.n == 0 or other.m2s is None or other.means is None:
            return
        if self.m2s is None:
            self._allocate(other.m2s.device)
        assert self.m2s is not None and self.means is not None
        device = self.m2s.device
        n_a = self.counts.to(device=device, dtype=torch.float64)
        n_b = other.counts.to(device=device, dtype=torch.float64)
        n = n_a + n_b
        theirs = torch.stack([other._m2(g) for g in range(other.n_groups)]).to(device)
        delta = other.means.to(device) - self.means
        weight = torch.where(n > 0, n_a * n_b / n.clamp(min=1), 0.0)
        scaled = delta * weight.sqrt()[:, None]
        mine = torch.stack([self._m2(g) for g in range(self.n_groups)])
        self.m2s = mine + theirs + scaled[:, :, None] * scaled[:, None, :]
        self.means = self.means + delta * torch.where(n > 0, n_b / n.clamp(min=1), 0.0)[:, None]
        self.counts = self.counts + other.counts
        self.n += other.n


def _block_ranges(dims: list[int]) -> list[tuple[int, int]]:
    out, start = [], 0
    for d in dims:
        out.append((start, start + d))
        start += d
    return out
