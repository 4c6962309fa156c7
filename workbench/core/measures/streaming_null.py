"""Within-batch permutation nulls of a streamed cross-covariance, kept without the data.

A :class:`WithinBatchNull` holds, for K shuffles of y against x, the change ``Δ_k`` (K, dim_x,
dim_y) that shuffle k makes to the cross scatter ``M2_xy``; the joint accumulator
(:class:`~workbench.core.measures.streaming_joint.StreamingJointCovariance`) adds ``Δ_k`` to its
covariance to get null replicate k. Two schemes:

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

import torch

__all__ = ["NULL_SCHEMES", "WithinBatchNull", "derangements"]

#: The null schemes of :class:`WithinBatchNull` (and so of ``StreamingJointCovariance``).
NULL_SCHEMES = ("shuffle", "parts")


def derangements(parts: int) -> torch.Tensor:
    """``(n_derangements, parts)``: every permutation of ``range(parts)`` with no fixed point.

    ``derangements(3)`` is ``[[1, 2, 0], [2, 0, 1]]``; there are 1, 2, 9, 44, 265 for 2..6 parts.
    """
    if int(parts) != parts or not 2 <= parts <= 7:
        raise ValueError(f"null_parts must be an integer from 2 to 7; got {parts}")
    rows = [p for p in itertools.permutations(range(parts)) if all(a != b for a, b in enumerate(p))]
    return torch.tensor(rows, dtype=torch.int64)


class WithinBatchNull:
    """The K null cross terms ``Δ_k`` of one joint accumulator (see the module docstring).

    Args:
        n_permutations: K, the number of shuffles (>= 1).
        dims: (dim_x, dim_y).
        seed: Seed of the ``torch.Generator`` made on the first batch's device.
        null: ``"shuffle"`` or ``"parts"``.
        null_parts: P for ``null="parts"`` (2 to 7).
    """

    def __init__(
        self, n_permutations: int, dims: tuple[int, int], *, seed: int, null: str, null_parts: int
    ) -> None:
        if null not in NULL_SCHEMES:
            raise ValueError(f"null must be one of {NULL_SCHEMES}; got {null!r}")
        self.n_permutations = int(n_permutations)
        self.dims = dims
        self.null = null
        self.null_parts = int(null_parts)
        self._derangements = derangements(null_parts) if null == "parts" else None
        self._seed = seed
        self._generator: torch.Generator | None = None
        self.delta: torch.Tensor | None = None  # (K, dim_x, dim_y), float64

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add one batch's shuffles: x (batch, dim_x), y (batch, dim_y) float64, paired rows."""
        if self._generator is None:
            self._generator = torch.Generator(device=x.device).manual_seed(self._seed)
            self.delta = torch.zeros(
                self.n_permutations, *self.dims, dtype=torch.float64, device=x.device
            )
        if self._derangements is not None:
            self._update_parts(x, y)
        else:
            self._update_shuffles(x, y)

    def _update_shuffles(self, x: torch.Tensor, y: torch.Tensor) -> None:
        assert self.delta is not None
        # K independent within-batch permutations at once: argsort of uniform noise.
        noise = torch.rand(
            self.n_permutations, x.shape[0], generator=self._generator, device=x.device
        )
        perms = noise.argsort(dim=1)  # (K, batch)
        xc = x - x.mean(dim=0)
        yc = y - y.mean(dim=0)
        # Δ_k += x̃^T (ỹ[π_k] - ỹ): (dim_x, batch) @ (K, batch, dim_y) -> (K, dim_x, dim_y)
        self.delta += torch.matmul(xc.T, yc[perms] - yc)

    def _update_parts(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The cheap null: every part-by-part cross scatter from one product (module docstring)."""
        assert self.delta is not None and self._derangements is not None
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
        self.delta.view(self.n_permutations, -1).addmm_(
            weights.view(self.n_permutations, -1), c.view(parts * parts, -1)
        )

    def nbytes(self) -> int:
        """Bytes held by the K cross terms (0 before the first batch)."""
        return 0 if self.delta is None else self.delta.numel() * 8

    def merge_from(self, other: WithinBatchNull, device: torch.device | None) -> None:
        """Add another null's cross terms (same K), moved to ``device``."""
        if other.n_permutations != self.n_permutations:
            raise ValueError("can only merge accumulators with the same n_permutations")
        if other.delta is None:
            return
        theirs = other.delta.to(device)
        self.delta = theirs.clone() if self.delta is None else self.delta + theirs

    def replicate(self, m2: torch.Tensor, k: int) -> torch.Tensor:
        """Joint scatter of null replicate k: ``m2`` (D, D) with ``Δ_k`` in both cross blocks."""
        assert self.delta is not None
        dx = self.dims[0]
        out = m2.clone()
        out[:dx, dx:] += self.delta[k]
        out[dx:, :dx] += self.delta[k].T
        return out
