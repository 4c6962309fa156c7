"""The Shannon ceiling: an upper bound on any Shannon MI between two residual streams.

Both streams at position t are deterministic functions of the token prefix ``X_0..X_t``
(and of t), so for every hook point ``I(T_t; R_t) <= H(T_t) <= H(X_0..X_t)``. Tokens are
sampled at a position P uniform on the window ``[first, seq_len)`` of W positions, and P is
itself recoverable from the prefix length, so for the pooled sample

    I(T; R) <= H(P, X_0..X_P) = log2 W + mean_{t in window} H(X_0..X_t).

The chain rule gives ``H(X_0..X_t) = H(X_0) + Σ_{s=1..t} H(X_s | X_<s)``, and a model's
cross-entropy is never below the true conditional entropy (Gibbs' inequality), so the trained
model's held-out loss ``L_s`` (bits, predicting ``X_s`` from ``X_<s``) bounds each term from
above; ``H(X_0) <= log2 V`` for a vocabulary of V tokens. The ceiling is therefore

    C(t) = log2 V + Σ_{s=1..t} L_s,        C = log2 W + mean_t C(t),

estimated on held-out sequences, with the standard error of the mean over sequences. A
Gaussian MI above C cannot be Shannon information: it measures linear alignment of the two
streams, which a deterministic, nearly-invertible pair of maps can make arbitrarily large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["CEILING_SENTENCE", "Ceiling", "model_losses", "shannon_ceiling"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

#: The flag's explanation, shown wherever the flag is.
CEILING_SENTENCE = (
    "Both streams are functions of the token prefix, so their Shannon MI cannot exceed the "
    "prefix's entropy (the ceiling, bounded by the trained model's held-out loss); a Gaussian "
    "MI above it measures linear alignment between the streams, not Shannon information."
)


@dataclass(frozen=True)
class Ceiling:
    """The Shannon ceiling of the pooled token sample, in bits.

    Attributes:
        bits: ``C``, the ceiling (module docstring).
        high: ``C + z_level SE``: the ceiling's upper end, used for the flag.
        se: Standard error of ``C`` over the scored sequences.
        by_position: ``C(t)`` for each t in the window.
        positions: The window's positions.
        first_token_bits: The bound on ``H(X_0)``, ``log2 V``.
        n_sequences: Sequences scored.
    """

    bits: float
    high: float
    se: float
    by_position: FloatArray
    positions: np.ndarray[Any, np.dtype[np.int64]]
    first_token_bits: float
    n_sequences: int


def shannon_ceiling(
    losses: FloatArray,
    *,
    first_position: int,
    vocab_size: int,
    level: float,
) -> Ceiling:
    """The ceiling from per-position losses of held-out sequences.

    Args:
        losses: ``(n_sequences, seq_len - 1)`` bits; ``losses[j, s - 1]`` is the loss of
            predicting token s of sequence j from tokens ``< s``.
        first_position: First sampled position of the window (the window ends at seq_len - 1).
        vocab_size: V, for the bound ``H(X_0) <= log2 V``.
        level: One-sided coverage of ``high``.
    """
    from scipy import stats

    loss = np.asarray(losses, dtype=np.float64)
    n, steps = loss.shape
    seq_len = steps + 1
    first_bits = math.log2(vocab_size)
    # C_j(t) = log2 V + Σ_{s=1..t} L_{j,s}: (n, seq_len), t = 0 .. seq_len - 1.
    prefix = first_bits + np.concatenate([np.zeros((n, 1)), np.cumsum(loss, axis=1)], axis=1)
    window = np.arange(first_position, seq_len)
    per_sequence = math.log2(window.size) + prefix[:, window].mean(axis=1)  # (n,)
    bits = float(per_sequence.mean())
    se = float(per_sequence.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    z = float(stats.norm.ppf(level))
    return Ceiling(
        bits=bits,
        high=bits + z * se,
        se=se,
        by_position=prefix[:, window].mean(axis=0),
        positions=window.astype(np.int64),
        first_token_bits=first_bits,
        n_sequences=n,
    )


@torch.no_grad()
def model_losses(model: Any, input_ids: torch.Tensor) -> FloatArray:
    """``(batch, seq - 1)`` next-token cross-entropy in bits of a causal LM on ``input_ids``."""
    logits = model(input_ids=input_ids).logits[:, :-1].double()  # (batch, seq - 1, V)
    log_p = torch.log_softmax(logits, dim=-1)
    target = input_ids[:, 1:, None]
    nats = -log_p.gather(-1, target)[..., 0]
    return (nats / math.log(2.0)).cpu().numpy()
