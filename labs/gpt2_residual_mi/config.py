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

    The defaults run the shipped byte-level model in about three minutes on two CPU cores
    (``--preset quick``: under 30 s). For GPT-2 small on CUDA, e.g. ``model = "gpt2"``,
    ``seq_len = 256``, ``n_sequences = 8192``, ``n_groups = 8``, ``jacobian_top_k = 128``,
    ``layer_matrix = false`` (``benchmarks/bench_gpt2_activations.py`` states its memory).
    """

    model: str = option(
        OFFLINE_DEFAULT,
        help="'offline-default' (shipped, byte tokens), a folder written by save_pretrained, "
        "or a hub name such as gpt2",
    )
    download: bool = option(
        True, help="try the Hugging Face hub when a hub name is not in the local cache"
    )
    twin_seed: int = option(
        0, help="seed of the first random-init twin; twin k has seed twin_seed + k", ge=0
    )
    twin_seeds: int = option(
        4,
        help="random twins K, streamed one after another (memory of one twin whatever K); "
        "each is paired with its own partner init (seed twin_seed + 1000 + k) for the "
        "twin-versus-twin baseline",
        unit="twins",
        ge=1,
    )
    second_model: str = option(
        "",
        help="a second trained checkpoint (folder or hub name) for trained-versus-trained MI; "
        "empty for none",
    )
    hooks: tuple[str, ...] = option(
        (),
        help="hook points to measure (e.g. ['blocks.0.hook_resid_mid']); empty for all 2L+1",
    )
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
    null_parts: int = option(
        4,
        help="the shuffles are random derangements of this many parts of each batch (all K "
        "shuffles from one product of about this many cross products); 0 for K uniform "
        "shuffles (one product each)",
        ge=0,
        le=7,
    )
    condition_threshold: float = option(
        1e6,
        help="a hook whose joint correlation matrix has a condition number above this is "
        "flagged near-singular",
        gt=1,
    )
    noise_fractions: tuple[float, ...] = option(
        (0.001, 0.01, 0.1),
        help="noise-floor sweep: independent noise SDs as fractions of each feature's SD",
        gt=0,
        min_len=1,
    )
    noise_flag_fraction: float = option(
        0.01, help="the noise fraction (one of noise_fractions) at which a hook is judged", gt=0
    )
    noise_flag_move: float = option(
        0.1,
        help="a hook is flagged noise-fragile when its MI moves by more than this fraction at "
        "noise_flag_fraction",
        gt=0,
    )
    ceiling_sequences: int = option(
        256,
        help="held-out sequences scored by the trained model for the Shannon ceiling",
        unit="sequences",
        ge=2,
    )
    copula: bool = option(
        True, help="also stream the Gaussian-copula MI (normal scores) of the first twin"
    )
    copula_calibration: int = option(
        2048,
        help="tokens whose values fix each feature's normal-score map (the first ones streamed)",
        unit="tokens",
        ge=16,
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
        8, help="sequences whose Jacobians are taken (0 skips the step)", unit="sequences", ge=0
    )
    jacobian_positions: tuple[int, ...] = option(
        (),
        help="output positions t of the Jacobians; empty for the last position only",
        unit="tokens",
        ge=0,
    )
    jacobian_gain_floor: float = option(
        1e-3,
        help="singular values below this fraction of σ_max do not count towards a Jacobian's rank",
        gt=0,
        lt=1,
    )
    twin_init_scales: tuple[float, ...] = option(
        (0.5, 1.0, 2.0, 4.0),
        help="Jacobian sweep: twins with GPT-2's init σ = 0.02 times each scale",
        gt=0,
        min_len=1,
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
        if self.noise_flag_fraction not in self.noise_fractions:
            raise ConfigError(
                "noise_flag_fraction",
                self.noise_flag_fraction,
                f"one of noise_fractions = {list(self.noise_fractions)}",
            )
        positions = self.jacobian_output_positions
        if max(positions) >= self.seq_len:
            raise ConfigError(
                "jacobian_positions", self.jacobian_positions, f"positions below {self.seq_len}"
            )
        if max(self.jacobian_offsets) > min(positions):
            raise ConfigError(
                "jacobian_offsets",
                self.jacobian_offsets,
                f"offsets up to the earliest Jacobian position {min(positions)}",
            )
        if max(self.jacobian_offsets) >= self.seq_len:
            raise ConfigError(
                "jacobian_offsets",
                self.jacobian_offsets,
                f"offsets below seq_len = {self.seq_len}",
            )

    @property
    def jacobian_output_positions(self) -> tuple[int, ...]:
        """Output positions t of the Jacobians (the last position when none are given)."""
        return self.jacobian_positions or (self.seq_len - 1,)

    @property
    def alpha(self) -> float:
        """Family-wise error rate of the verdicts, ``1 - level``."""
        return 1.0 - self.level

    @property
    def n_tokens(self) -> int:
        """Token positions streamed when every sequence is used."""
        return self.n_sequences * self.positions_per_sequence
