"""Token batches in, streaming covariance accumulators out: activations never pile up.

Per batch of sequences, both models run once; the residual stream at every hook point
is read at a few sampled positions per sequence and folded into

* one :class:`~workbench.measures.StreamingJointCovariance` per hook point, of the pair
  (trained, twin), with jackknife groups and within-batch shuffles of the twin's rows
  for the null; and
* optionally one :class:`~workbench.measures.StreamingCovariance` of every hook point of
  both models side by side, ``D = 2 H d_model`` features, for the layer x layer matrices;
* optionally, per hook point, a second joint accumulator of (partner, twin): two random
  inits, the baseline of what shared input alone gives; a third of the normal scores of
  (trained, twin) for the Gaussian-copula MI; and per-feature fourth moments (kurtosis).

The lab streams one twin per pass (:class:`ResidualAccumulators` holds one pass), reduces
each pass to its numbers and frees it, so K twins cost K passes of time and one pass of
memory.

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

from workbench.core.measures.copula import NormalScores
from workbench.core.measures.marginal import StreamingMarginalMoments
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
class _CopulaStream:
    """Normal scores of one hook's (x, y) fixed from the first ``calibration`` rows, then
    streamed into a joint accumulator; rows before the map exists wait in ``pending``."""

    acc: StreamingJointCovariance
    calibration: int
    scores: tuple[NormalScores, NormalScores] | None = None
    pending: list[tuple[Tensor, Tensor, Tensor]] | None = None

    def update(self, x: Tensor, y: Tensor, groups: Tensor) -> None:
        if self.scores is not None:
            self.acc.update(self.scores[0].transform(x), self.scores[1].transform(y), groups=groups)
            return
        self.pending = [*(self.pending or []), (x, y, groups)]
        if sum(p[0].shape[0] for p in self.pending) >= self.calibration:
            self.finish()

    def finish(self) -> None:
        """Fix the map from the rows held (if not yet fixed) and fold them in."""
        if self.scores is not None or not self.pending:
            return
        xs = torch.cat([p[0] for p in self.pending])[: self.calibration]
        ys = torch.cat([p[1] for p in self.pending])[: self.calibration]
        self.scores = (NormalScores(xs), NormalScores(ys))
        pending, self.pending = self.pending, None
        for x, y, groups in pending:
            self.update(x, y, groups)


@dataclass
class ResidualAccumulators:
    """Everything accumulated from one pass of (trained, twin[, partner]) activations.

    Attributes:
        names: Hook points, depth order.
        pairs: Per hook point, the joint accumulator of (trained, twin) rows.
        n_groups: Jackknife groups; sequence ``s`` goes to group ``s mod n_groups``.
        joint: All hook points of the trained model then all of the twin, side by side
            (``2 H d_model`` features), or ``None`` when the layer matrix is off.
        baseline: Per hook point, (partner, twin): two random inits, or ``None``.
        copula: Per hook point, the normal-score stream of (trained, twin), or ``None``.
        kurtosis: Per hook point, fourth moments of (trained, twin) features, or ``None``.
        n_sequences: Sequences folded in so far.
    """

    names: tuple[str, ...]
    pairs: dict[str, StreamingJointCovariance]
    joint: StreamingCovariance | None
    n_groups: int
    baseline: dict[str, StreamingJointCovariance] | None = None
    copula: dict[str, _CopulaStream] | None = None
    kurtosis: dict[str, tuple[StreamingMarginalMoments, StreamingMarginalMoments]] | None = None
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
        device: torch.device | str,
        null_parts: int = 0,
        baseline: bool = False,
        copula_calibration: int = 0,
        kurtosis: bool = False,
    ) -> ResidualAccumulators:
        """Empty accumulators on ``device``; each hook's shuffles get their own seed.

        ``null_parts`` > 0 uses the cheap part-derangement null; ``copula_calibration`` > 0
        streams the copula MI with normal scores fixed from that many first rows.
        """

        def joint_pair(
            offset: int, i: int, shuffles: int = n_permutations
        ) -> StreamingJointCovariance:
            return StreamingJointCovariance(
                d_model,
                d_model,
                device=device,
                n_groups=n_groups,
                n_permutations=shuffles,
                seed=seed * 1000 + offset + i,
                null="parts" if null_parts else "shuffle",
                null_parts=null_parts or 4,
            )

        pairs = {name: joint_pair(0, i) for i, name in enumerate(names)}
        joint = (
            StreamingCovariance(2 * len(names) * d_model, device=device) if layer_matrix else None
        )
        # The baseline's own shuffled null is never read (the verdicts compare it with the
        # trained-twin MI through the paired jackknife), so it keeps no shuffles.
        base = {name: joint_pair(500, i, 0) for i, name in enumerate(names)} if baseline else None
        cop = (
            {
                name: _CopulaStream(
                    StreamingJointCovariance(d_model, d_model, device=device, n_groups=n_groups),
                    copula_calibration,
                )
                for name in names
            }
            if copula_calibration
            else None
        )
        kurt = (
            {
                name: (
                    StreamingMarginalMoments(d_model, device=device),
                    StreamingMarginalMoments(d_model, device=device),
                )
                for name in names
            }
            if kurtosis
            else None
        )
        return cls(
            names=tuple(names),
            pairs=pairs,
            joint=joint,
            n_groups=n_groups,
            baseline=base,
            copula=cop,
            kurtosis=kurt,
        )

    @property
    def n_tokens(self) -> int:
        """Token positions folded in so far."""
        return self.pairs[self.names[0]].n

    def nbytes(self) -> int:
        """Bytes held by the pair and baseline accumulators (the bulk of the memory)."""
        held = sum(acc.nbytes() for acc in self.pairs.values())
        held += sum(acc.nbytes() for acc in (self.baseline or {}).values())
        held += sum(c.acc.nbytes() for c in (self.copula or {}).values())
        if self.joint is not None:
            held += self.joint.dim**2 * 8
        return held

    def update(
        self,
        trained: Mapping[str, Tensor],
        twin: Mapping[str, Tensor],
        n_sequences: int,
        partner: Mapping[str, Tensor] | None = None,
    ) -> None:
        """Fold one batch: ``trained[name], twin[name]: (n_pos * batch, d_model)``, rows
        position-major (row ``slot * batch + sequence``), ``batch = n_sequences``;
        ``partner`` (same shapes) feeds the baseline."""
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
            if self.baseline is not None:
                if partner is None:
                    raise ValueError("these accumulators have a baseline: pass partner=")
                self.baseline[name].update(partner[name], twin[name], groups=groups)
            if self.copula is not None:
                self.copula[name].update(trained[name], twin[name], groups)
            if self.kurtosis is not None:
                self.kurtosis[name][0].update(trained[name])
                self.kurtosis[name][1].update(twin[name])
        if self.joint is not None:
            self.joint.update(
                torch.cat([trained[n] for n in self.names] + [twin[n] for n in self.names], dim=1)
            )
        self.n_sequences += n_sequences

    def finish(self) -> None:
        """Call after the last batch: fixes any copula map still waiting for rows."""
        for stream in (self.copula or {}).values():
            stream.finish()
