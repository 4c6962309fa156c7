"""Token batches in, streaming covariance accumulators out: activations never pile up.

Per batch of sequences, both models run once; the residual stream at every hook point
is read at a few sampled positions per sequence and folded into

* one :class:`~workbench.measures.StreamingJointCovariance` per hook point, of the pair
  (trained, twin), with jackknife groups and within-batch shuffles of the twin's rows
  for the null; and
* optionally one :class:`~workbench.measures.StreamingCovariance` of every hook point of
  both models side by side, ``D = 2 (2L + 1) d_model`` features, for the layer x layer
  matrices and the spectra.

Jackknife groups hold whole sequences: the tokens of one sequence are correlated, so the
delete-a-group jackknife must leave them out together. Every row is given its group
explicitly, ``sequence index mod G`` (sequences counted over the whole stream), whatever
the row order or batch size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from workbench.core.models.gpt2 import TokenBatch
from workbench.measures import StreamingCovariance, StreamingJointCovariance
from workbench_labs.gpt2_residual_mi.corpus import SequenceSource

__all__ = [
    "ResidualAccumulators",
    "batch_sizes",
    "curve_token_counts",
    "sample_positions",
    "token_batches",
]


def batch_sizes(n_sequences: int, batch_size: int, n_groups: int) -> list[int]:
    """Sequences per batch: full batches, then a last one cut to a multiple of ``n_groups``.

    Up to ``n_groups - 1`` sequences are dropped so that the jackknife groups (sequence
    ``s`` in group ``s mod n_groups``) stay equal in size after every batch: the delete-a-group
    jackknife's formulas assume equal groups, and the lab's smallest-sample check counts on
    it. The lab records how many sequences it used.
    """
    sizes = [batch_size] * (n_sequences // batch_size)
    rest = (n_sequences % batch_size) // n_groups * n_groups
    if rest:
        sizes.append(rest)
    return sizes


def sample_positions(
    rng: np.random.Generator, n_rows: int, seq_len: int, first: int, per_sequence: int
) -> np.ndarray[tuple[int, int], np.dtype[np.int64]]:
    """``(n_rows, per_sequence)`` distinct sorted positions per row, uniform on [first, seq_len)."""
    window = seq_len - first
    # argsort of uniform noise gives a uniformly random subset per row, all rows at once.
    picks = np.argsort(rng.random((n_rows, window)), axis=1)[:, :per_sequence]
    return np.sort(picks, axis=1).astype(np.int64) + first


def token_batches(
    source: SequenceSource,
    sizes: Sequence[int],
    *,
    seq_len: int,
    first_position: int,
    positions_per_sequence: int,
    seed: int,
    start: int = 0,
) -> Iterator[TokenBatch]:
    """Batches of sequences ``start, start + 1, ...`` with their sampled positions.

    Args:
        source: Where sequence ``i`` comes from.
        sizes: Sequences per batch (see :func:`batch_sizes`).
        seq_len: Tokens per sequence.
        first_position: Earliest position sampled.
        positions_per_sequence: Positions sampled per sequence.
        seed: Seed of the positions' generator.
        start: Index of the first sequence.

    Yields:
        :class:`TokenBatch` with ``input_ids: (batch, seq_len)``, ``positions: (batch, n_pos)``.
    """
    rng = np.random.default_rng([seed, 0x9E3779B9])  # its own stream, apart from the texts
    index = start
    for size in sizes:
        ids = np.stack([source.sequence(index + j) for j in range(size)])
        positions = sample_positions(rng, size, seq_len, first_position, positions_per_sequence)
        index += size
        yield TokenBatch(torch.from_numpy(ids), torch.from_numpy(positions))


def curve_token_counts(
    requested: Sequence[int], cumulative: Sequence[int], minimum: int
) -> list[int]:
    """Batch boundaries at which the MI-versus-tokens curve is measured.

    Args:
        requested: Token counts asked for; empty for 8 points spaced geometrically from
            ``minimum`` to all tokens.
        cumulative: Tokens streamed after each batch.
        minimum: Fewest tokens at which the estimate exists (more than the joint
            dimension, with a jackknife group left out).

    Returns:
        Increasing token counts, each the first batch boundary at or past a request
        (requests below ``minimum`` move up to it); the last is always all tokens.
    """
    total = int(cumulative[-1])
    if requested:
        targets = [float(n) for n in requested]
    else:
        low = min(max(minimum, 1), total)
        targets = list(np.geomspace(low, total, 8))
    chosen: list[int] = []
    for target in [*targets, total]:
        target = max(target, minimum)
        hits = [c for c in cumulative if c >= target]
        if hits and (not chosen or hits[0] > chosen[-1]):
            chosen.append(int(hits[0]))
    return chosen


@dataclass
class ResidualAccumulators:
    """Everything accumulated from the stream of (trained, twin) residual activations.

    Attributes:
        names: Hook points, depth order.
        pairs: Per hook point, the joint accumulator of (trained, twin) rows.
        n_groups: Jackknife groups of ``pairs``; sequence ``s`` goes to group ``s mod n_groups``.
        joint: All hook points of the trained model then all of the twin, side by side
            (``2 H d_model`` features), or ``None`` when the layer matrix is off.
        n_sequences: Sequences folded in so far.
    """

    names: tuple[str, ...]
    pairs: dict[str, StreamingJointCovariance]
    joint: StreamingCovariance | None
    n_groups: int
    n_sequences: int = 0

    @classmethod
    def create(
        cls,
        names: Sequence[str],
        d_model: int,
        *,
        n_groups: int,
        n_permutations: int,
        seed: int,
        layer_matrix: bool,
        device: torch.device,
    ) -> ResidualAccumulators:
        """Empty accumulators on ``device``; each hook's shuffles get their own seed."""
        pairs = {
            name: StreamingJointCovariance(
                d_model,
                d_model,
                device=device,
                n_groups=n_groups,
                n_permutations=n_permutations,
                seed=seed * 1000 + i,
            )
            for i, name in enumerate(names)
        }
        joint = (
            StreamingCovariance(2 * len(names) * d_model, device=device) if layer_matrix else None
        )
        return cls(names=tuple(names), pairs=pairs, joint=joint, n_groups=n_groups)

    @property
    def n_tokens(self) -> int:
        """Token positions folded in so far."""
        return self.pairs[self.names[0]].n

    def update(
        self, trained: Mapping[str, Tensor], twin: Mapping[str, Tensor], n_sequences: int
    ) -> None:
        """Fold one batch: ``trained[name], twin[name]: (n_pos * batch, d_model)``, rows
        position-major (row ``slot * batch + sequence``), ``batch = n_sequences``."""
        rows = trained[self.names[0]].shape[0]
        if rows % n_sequences:
            raise ValueError(
                f"expected n_pos * {n_sequences} rows (position-major); got {rows} rows"
            )
        device = trained[self.names[0]].device
        # Every token of sequence s (counted over the stream) in jackknife group s mod G.
        sequence = self.n_sequences + torch.arange(n_sequences, device=device)
        groups = (sequence % self.n_groups).repeat(rows // n_sequences)
        for name in self.names:
            self.pairs[name].update(trained[name], twin[name], groups=groups)
        if self.joint is not None:
            self.joint.update(
                torch.cat([trained[n] for n in self.names] + [twin[n] for n in self.names], dim=1)
            )
        self.n_sequences += n_sequences
