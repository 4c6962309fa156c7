"""The dropout channel: codes trained to pass information through a dropout layer, exactly.

The model, per network: the n input bits (as ±1) → tanh hidden layer → m code units
``u = tanh(·)`` quantised to L levels ``ℓ_k = -1 + (2k + 1)/L`` (L even, so 0 is never a level)
→ dropout at rate D (each unit independently set to 0 with probability D, no rescaling) →
ReLU decoder → n logits, trained to reconstruct the input (binary cross-entropy). The
quantiser passes gradients straight through (Bengio et al., 2013).

Exact information across the dropout layer. The code ``c(x) ∈ {0..L-1}^m`` is a function of the
input, and since 0 is not a level the kept-unit pattern s is visible in the output Y, so Y is
(s, c_s(x)) and, with the 2^n inputs uniform,

    I(X; Y) = H(Y) - H(Y | X) = Σ_s P(s) H(c_s(X)),     P(s) = (1-D)^{|s|} D^{m-|s|}

summed over all 2^m patterns: exact, no sampling. The theorem of 003 (§2.3) bounds the channel's
capacity with C_base = log2 L bits per unit:

    (1 - ε)(1 - D) C_base m  <=  C_dropout  <=  (1 - D) C_base m,    ε = -log2(1 - 2^{-C_base})

and its proof constructs (1 - D) m log2(2^{C_base} - 1), a tighter lower bound. With 0 outside the
alphabet the channel is an m-fold erasure channel, whose capacity is exactly the upper bound.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from workbench.measures import entropy, mutual_information

__all__ = [
    "DropoutCodes",
    "capacity",
    "code_information",
    "proof_lower_bound",
    "sampled_information",
    "theorem_lower_bound",
    "train_codes",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def capacity(rate: float, units: int, levels: int) -> float:
    """(1 - D) · m · log2 L bits: the erasure channel's capacity and the theorem's upper bound."""
    return (1.0 - rate) * units * math.log2(levels)


def theorem_lower_bound(rate: float, units: int, levels: int) -> float:
    """(1 - ε)(1 - D) C_base m with ε = -log2(1 - 2^{-C_base}), as Theorem 3 states it."""
    c_base = math.log2(levels)
    eps = -math.log2(1.0 - 2.0**-c_base)
    return (1.0 - eps) * (1.0 - rate) * c_base * units


def proof_lower_bound(rate: float, units: int, levels: int) -> float:
    """(1 - D) m log2(2^{C_base} - 1): what the theorem's construction achieves."""
    return (1.0 - rate) * units * math.log2(levels - 1) if levels > 1 else 0.0


def code_information(codes: IntArray, rate: float, levels: int) -> FloatArray:
    """Exact I(X; dropout(code)) in bits per network, by summing over every kept-unit pattern.

    Args:
        codes: ``(network, input, unit)`` level indices 0..L-1, one row per (uniform) input.
        rate: Dropout rate D in [0, 1).
        levels: L.

    Returns:
        ``(network,)`` bits.
    """
    c = np.asarray(codes, dtype=np.int64)
    n_nets, _, m = c.shape
    total = np.zeros(n_nets)
    for kept in itertools.product((0, 1), repeat=m):
        k = sum(kept)
        p = (1.0 - rate) ** k * rate ** (m - k)
        if p == 0.0 or k == 0:
            continue  # nothing kept: Y carries no information
        cols = [i for i in range(m) if kept[i]]
        joint = (c[:, :, cols] * levels ** np.arange(k)).sum(axis=2)  # (network, input)
        total += p * np.array([entropy(row) for row in joint])
    return total


def sampled_information(
    codes: IntArray, rate: float, n_draws: int, generator: np.random.Generator
) -> float:
    """Plug-in I(X; Y) from sampled dropout masks, for one network (an independent check).

    Each of the ``n_draws`` rounds pairs every input with a fresh mask; Y is the masked code with
    dropped units written as -1. Biased up by about (#cells)/(2 N ln 2) for N samples.

    Args:
        codes: ``(input, unit)`` level indices of one network.
    """
    c = np.asarray(codes, dtype=np.int64)
    n_inputs, m = c.shape
    keep = generator.random((n_draws, n_inputs, m)) >= rate
    y = np.where(keep, c[None], -1).reshape(-1, m)
    x = np.tile(np.arange(n_inputs), n_draws)
    y_code = np.unique(y, axis=0, return_inverse=True)[1].reshape(-1)
    return mutual_information(x, y_code)


class DropoutCodes:
    """``rows`` encoder/decoder networks as stacked weight tensors, each with its own rate.

    Attributes:
        rates: ``(rows,)`` dropout rate of each network.
        params: ``[W1 (rows, n, h), b1 (rows, 1, h), W2 (rows, h, m), b2, W3 (rows, m, h), b3,
            W4 (rows, h, n), b4]``.
    """

    def __init__(
        self,
        rates: Sequence[float],
        seeds: Sequence[int],
        n_bits: int,
        units: int,
        levels: int,
        hidden: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.rates = torch.tensor(list(rates), dtype=torch.float32, device=device)
        self.levels = levels
        shapes = [(n_bits, hidden), (hidden, units), (units, hidden), (hidden, n_bits)]
        rows = []
        # Initialisation only loops over networks: each seed's own generator makes network k
        # the same whatever else is trained with it (and the same at every rate).
        for seed in seeds:
            gen = torch.Generator(device="cpu").manual_seed(int(seed))
            row = []
            for fan_in, fan_out in shapes:
                bound = fan_in**-0.5
                row.append((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound)
                row.append((torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound)
            rows.append(row)
        self.params = [
            torch.stack([r[i] for r in rows]).to(device).requires_grad_() for i in range(8)
        ]

    def code(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x: (batch, n)`` bits → (straight-through quantised code, level index), each
        ``(rows, batch, m)``."""
        w1, b1, w2, b2 = self.params[:4]
        signs = (2.0 * x - 1.0).expand(len(self.rates), -1, -1)  # (rows, batch, n)
        u = torch.tanh(torch.baddbmm(b2, torch.tanh(torch.baddbmm(b1, signs, w1)), w2))
        index = ((u.detach() + 1.0) * (self.levels / 2)).floor().clamp(0, self.levels - 1)
        level = -1.0 + (2.0 * index + 1.0) / self.levels
        return u + (level - u).detach(), index.to(torch.long)

    def loss(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Sum over networks of each one's mean reconstruction BCE, one fresh mask per input."""
        q, _ = self.code(x)
        keep = torch.rand(q.shape, generator=gen).to(q.device) >= self.rates[:, None, None]
        w3, b3, w4, b4 = self.params[4:]
        logits = torch.baddbmm(b4, torch.relu(torch.baddbmm(b3, q * keep, w3)), w4)
        target = x.expand_as(logits)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return bce.mean(dim=(1, 2)).sum()

    def levels_of(self, x: Tensor) -> IntArray:
        """``(rows, batch, m)`` level indices of every network's code."""
        with torch.no_grad():
            return self.code(x)[1].cpu().numpy()


def train_codes(
    model: DropoutCodes,
    x: Tensor,
    steps: int,
    lr: float,
    seed: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> FloatArray:
    """Train every network in place (full batch, Adam); returns the loss curve ``(steps,)``.

    Adam on the stacked tensors is one Adam per network: its update is elementwise.
    """
    optimizer = torch.optim.Adam(model.params, lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    curve = torch.empty(steps, device=x.device)  # on the device: no host sync per step
    rows = len(model.rates)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(x, gen)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        curve[step] = loss.detach() / rows
        if on_progress is not None and (step + 1) % 50 == 0:
            on_progress(step + 1, steps)
    return curve.cpu().numpy().astype(np.float64)
