"""The config of the ``gpt2-residual-mi`` lab: models, tokens, statistics and Jacobians."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.config import option
from workbench.core.errors import ConfigError

__all__ = ["OFFLINE_DEFAULT", "ResidualMIConfig"]

#: The ``model`` value that selects the checkpoint shipped with the lab.
OFFLINE_DEFAULT = "offline-default"


@dataclass(frozen=True)
class ResidualMIConfig:
    """What to compare, on which tokens, and how carefully.

    The defaults run the shipped byte-level model in about a minute on two CPU cores.
    For GPT-2 small on CUDA, e.g. ``model = "gpt2"``, ``seq_len = 256``,
    ``n_sequences = 8192``, ``jacobian_top_k = 128``.
    """

    model: str = option(
        OFFLINE_DEFAULT,
        help="'offline-default' (shipped, byte tokens), a folder written by save_pretrained, "
        "or a hub name such as gpt2",
    )
    download: bool = option(
        True, help="try the Hugging Face hub when a hub name is not in the local cache"
    )
    twin_seed: int = option(0, help="seed of the random-init twin's own generator", ge=0)
    corpus: str = option(
        "grammar", help="'grammar' (the in-code probabilistic grammar) or a UTF-8 text file path"
    )
    corpus_seed: int = option(
        1,
        help="seed of the sequences, sampled positions and shuffles (the offline model was "
        "trained on grammar seed 0, so seed 1 is held-out text)",
        ge=0,
    )
    n_sequences: int = option(
        1536, help="sequences streamed through both models", unit="sequences", ge=2
    )
    seq_len: int = option(
        64, help="tokens per sequence, at most the model's context", unit="tokens", ge=2
    )
    positions_per_sequence: int = option(
        8,
        help="token positions sampled from each sequence (few: tokens of one sequence are "
        "correlated)",
        unit="tokens",
        ge=1,
    )
    first_position: int = option(
        8,
        help="earliest position sampled; the first tokens' residual streams are atypical",
        unit="tokens",
        ge=0,
    )
    batch_size: int = option(
        64,
        help="sequences per forward pass; a multiple of n_groups so the jackknife groups "
        "(whole sequences) stay equal in size",
        unit="sequences",
        ge=2,
    )
    n_groups: int = option(
        16, help="jackknife groups of whole sequences for the intervals", unit="groups", ge=2
    )
    n_permutations: int = option(
        19,
        help="within-batch shuffles of the twin's tokens for the null (19 allow p = 0.05)",
        unit="shuffles",
        ge=1,
    )
    token_counts: tuple[int, ...] = option(
        (),
        help="token counts where the MI-versus-tokens curve is measured; empty for 8 "
        "log-spaced points",
        unit="tokens",
        ge=1,
    )
    level: float = option(0.95, help="coverage of the intervals", gt=0.5, lt=1.0)
    layer_matrix: bool = option(
        True,
        help="also accumulate every hook point of both models jointly for the layer x layer "
        "MI matrices (memory (2 (2L+1) d_model)² x 8 bytes)",
    )
    jacobian_sequences: int = option(
        4, help="sequences whose Jacobians are taken (0 skips the step)", unit="sequences", ge=0
    )
    jacobian_offsets: tuple[int, ...] = option(
        (0, 1, 2, 4),
        help="offsets k: d resid_post[t] / d resid_pre0[t - k], t the last position",
        unit="tokens",
        ge=0,
        min_len=1,
    )
    jacobian_top_k: int = option(
        0,
        help="0 for every singular value (exact); k > 0 for the top k by randomized SVD "
        "(bounded width, for d_model = 768 and up)",
        ge=0,
    )

    def __post_init__(self) -> None:
        window = self.seq_len - self.first_position
        if window < self.positions_per_sequence:
            raise ConfigError(
                "positions_per_sequence",
                self.positions_per_sequence,
                f"at most seq_len - first_position = {self.seq_len} - {self.first_position} "
                f"= {window} distinct positions",
            )
        if self.batch_size % self.n_groups:
            raise ConfigError(
                "batch_size",
                self.batch_size,
                f"a multiple of n_groups = {self.n_groups}, so that the jackknife groups "
                "of whole sequences stay equal in size",
            )
        if self.n_sequences < 2 * self.n_groups:
            raise ConfigError(
                "n_sequences",
                self.n_sequences,
                f"at least 2 x n_groups = {2 * self.n_groups} sequences",
            )
        if self.n_permutations >= self.batch_size * self.positions_per_sequence:
            raise ConfigError(
                "n_permutations",
                self.n_permutations,
                "fewer than the tokens per batch (batch_size x positions_per_sequence)",
            )
        counts = list(self.token_counts)
        if counts != sorted(set(counts)):
            raise ConfigError(
                "token_counts", self.token_counts, "strictly increasing token counts, or []"
            )
        if counts and counts[-1] > self.n_tokens:
            raise ConfigError(
                "token_counts",
                self.token_counts,
                f"counts up to n_sequences x positions_per_sequence = {self.n_tokens}",
            )
        if max(self.jacobian_offsets) >= self.seq_len:
            raise ConfigError(
                "jacobian_offsets",
                self.jacobian_offsets,
                f"offsets below seq_len = {self.seq_len}",
            )

    @property
    def n_tokens(self) -> int:
        """Token positions streamed when every sequence is used."""
        return self.n_sequences * self.positions_per_sequence
