"""Gaussian inputs: the information a noisy layer keeps at init and after training.

X ~ N(0, I_d). A deterministic layer h(X) of a continuous X has infinite MI with it, so the
layer is read through noise: T = h(X) + σ ε with ε ~ N(0, I) and σ = ``noise`` × s, s the
layer's pooled standard deviation (so the noise is relative, like the resolution of the
binary map). For a linear net h(X) = A X + b, T is Gaussian and

    I(X; T) = ½ log2 det(I + A Aᵀ / σ²)      bits (exact)

For nonlinear nets I(X; T) is estimated by KSG (Kraskov et al., 2004) and by MINE (Belghazi et
al., 2018) on ``samples`` draws; the linear nets are estimated the same way, so the estimators'
error is measured in the very cells where they are used (:mod:`.gaussian_report`). The
reference is the input read at the same relative noise, I(X; X + noise·ε) = (d/2) log2(1 +
1/noise²). It is a scale, not a ceiling: a layer wider than d reads X through several
independently noisy units and can exceed it, and a layer narrower than d cannot reach it.

**Training.** Each cell's ensemble (one batched model) is then trained, full batch, Adam, MSE
(as :func:`.nets.train` trains the binary map), on a fixed random teacher's sign:
y = 1[vᵀx > 0] with v ~ N(0, I_d) drawn from ``task_seed``. It is the Gaussian counterpart of
the binary map's one output bit: the output needs one direction of X, so a net that discards the
other d - 1 directions after training shows it as a fall in I(X; T), exact for linear nets.
Training uses its own draw of X; I(X; T) is measured on a fresh one.

**MINE settings, measured.** On the 12 linear cells (widths 2 and 8, depths 1, 2, 4, 2 seeds;
truth 0.8–1.0 bits at width 2, 2.1–2.9 at width 8; N = 2000, hidden 32, no null networks),
mean error in bits (the held-out bound's shortfall), the interval's coverage of the truth, and
CPU seconds for both widths at ``uptime`` load 2–3 on 2 cores
(``python benchmarks/bench_channels.py --mine-settings`` prints this table)::

    steps  lr     batch  k  error w2  error w8  coverage  CPU s
    200    1e-3   128    4    -0.10     -0.59      0.50      3.1   (the previous default)
    200    3e-3   128    4    -0.08     -0.32      1.00      3.5
    300    3e-3   256    4    -0.08     -0.21      1.00      7.6
    300    3e-3   256    2    -0.06     -0.23      1.00      4.7   (the default)
    500    3e-3   256    4    -0.08     -0.20      1.00     13.2
    1000   3e-3   128    4    -0.08     -0.24      1.00     15.4
    2000   3e-3   128    4    -0.12     -0.28      1.00     28.6

Beyond 300 steps at lr 3e-3 the error no longer falls (it rises a little at 2000 steps, where
T over-fits its 1400 training samples): what is left is the data's limit, not under-training.
KSG (k = 3) errs by -0.09 bits at width 2 and -0.93 at width 8 on the same cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from workbench.core.ensemble import EnsembleMLP
from workbench.measures import ksg_mutual_information, mine_mutual_information_batch

from .nets import build_ensemble, hidden_layers, train

__all__ = [
    "GaussianCell",
    "GaussianSweep",
    "MineSettings",
    "linear_information",
    "measure_gaussian",
    "noisy_last_layer",
    "reference_information",
    "teacher_targets",
]

FloatArray = npt.NDArray[np.float64]

#: The two stages every Gaussian cell is measured at.
STAGES = ("init", "trained")


@dataclass(frozen=True)
class GaussianCell:
    """One cell of the Gaussian sweep at one stage, per seed (bits; ``exact`` NaN unless linear)."""

    activation: str
    width: int
    depth: int
    stage: str
    exact: FloatArray
    ksg: FloatArray
    mine: FloatArray
    mine_low: FloatArray
    mine_high: FloatArray


@dataclass(frozen=True)
class GaussianSweep:
    """What the Gaussian step sweeps and how its nets are trained."""

    activations: Sequence[str]
    widths: Sequence[int]
    depths: Sequence[int]
    seeds: Sequence[int]
    dim: int
    samples: int
    noise: float
    train_steps: int
    lr: float
    data_seed: int
    task_seed: int


@dataclass(frozen=True)
class MineSettings:
    """MINE's settings in the lab (see the module for how they were chosen)."""

    steps: int
    estimators: int
    lr: float
    batch_size: int
    hidden: int = 32


def reference_information(dim: int, noise: float) -> float:
    """(d/2) log2(1 + 1/noise²): all of X read at relative noise ``noise``."""
    return 0.5 * dim * math.log2(1.0 + 1.0 / noise**2)


def linear_information(model: EnsembleMLP, sigma: FloatArray) -> FloatArray:
    """½ log2 det(I + A Aᵀ/σ²) per seed for the last hidden layer of a linear net.

    Args:
        model: A net whose hidden activation is ``linear``.
        sigma: ``(seed,)`` noise standard deviations.
    """
    state = model.state_dict()
    n_hidden = model.n_layers - 1
    a = state["layers.0.weight"].to(torch.float64)  # (seed, d_1, d_0)
    for i in range(1, n_hidden):
        a = state[f"layers.{i}.weight"].to(torch.float64) @ a
    gram = a @ a.transpose(1, 2)  # (seed, w, w)
    s2 = torch.as_tensor(sigma, dtype=torch.float64) ** 2
    eye = torch.eye(gram.shape[1], dtype=torch.float64)
    logdet = torch.linalg.slogdet(eye + gram.cpu() / s2[:, None, None])[1]
    bits: FloatArray = (0.5 * logdet / math.log(2.0)).numpy()
    return bits


def teacher_targets(x: Tensor, task_seed: int) -> Tensor:
    """``(n, 1)`` float32 targets 1[vᵀx > 0] of a fixed random teacher v ~ N(0, I_d).

    Args:
        x: ``(n, d)`` inputs.
        task_seed: Seeds v, so every net and both stages see the same task.
    """
    gen = torch.Generator(device="cpu").manual_seed(task_seed)
    v = torch.randn(x.shape[1], generator=gen, dtype=torch.float64)
    return (x.to("cpu", torch.float64) @ v > 0).to(x.device, torch.float32)[:, None]


def noisy_last_layer(
    model: EnsembleMLP, x: Tensor, noise: float, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """T = h(X) + σ ε of the last hidden layer, σ = noise × the layer's pooled SD.

    Returns:
        ``T: (seed, samples, width)`` float64 on the CPU and ``σ: (seed,)``.
    """
    h = hidden_layers(model, x.to(torch.float32))[-1].detach().to("cpu", torch.float64)
    s = (h - h.mean(dim=1, keepdim=True)).square().mean(dim=(1, 2)).sqrt()
    sigma = noise * s.clamp_min(1e-12)
    eps = torch.randn(h.shape, generator=gen, dtype=torch.float64)
    return h + sigma[:, None, None] * eps, sigma


def _stage_layers(
    model: EnsembleMLP, x: Tensor, noise: float, gen: torch.Generator, n_seeds: int
) -> tuple[Tensor, FloatArray]:
    """The noisy layer and its exact MI (NaN unless the net is linear) at the current weights."""
    t, sigma = noisy_last_layer(model, x, noise, gen)
    if model.activation == "linear":
        return t, linear_information(model, sigma.numpy())
    return t, np.full(n_seeds, math.nan)


def measure_gaussian(
    sweep: GaussianSweep,
    mine: MineSettings,
    device: torch.device | str = "cpu",
    on_progress: Callable[[int, int], None] | None = None,
) -> list[GaussianCell]:
    """Every (activation, width, depth) cell at init and trained: exact (linear), KSG, MINE.

    Per width, every cell's ensemble is measured at init, trained, and measured again; then
    KSG runs per net and MINE once for all nets of that width and both stages (one batched
    model). Returns one :class:`GaussianCell` per cell and stage.
    """
    gen = torch.Generator(device="cpu").manual_seed(sweep.data_seed)
    x = torch.randn(sweep.samples, sweep.dim, generator=gen, dtype=torch.float64)
    x_train = torch.randn(sweep.samples, sweep.dim, generator=gen, dtype=torch.float64)
    y_train = teacher_targets(x_train, sweep.task_seed).to(device)
    k = len(sweep.seeds)
    cells: list[GaussianCell] = []
    for w_index, width in enumerate(sweep.widths):
        layers: list[Tensor] = []
        keys: list[tuple[str, int, str, FloatArray]] = []
        for activation in sweep.activations:
            for depth in sweep.depths:
                model = build_ensemble(
                    width, depth, activation, 1.0, sweep.seeds, sweep.dim, 1, device
                )
                for stage in STAGES:
                    if stage == "trained":
                        train(model, x_train.to(device, torch.float32), y_train,
                              sweep.train_steps, sweep.lr)  # fmt: skip
                    t, exact = _stage_layers(model, x.to(device), sweep.noise, gen, k)
                    layers.append(t)
                    keys.append((activation, depth, stage, exact))
        t_all = torch.cat(layers)  # (cell·stage·seed, samples, width)
        ksg = np.array([ksg_mutual_information(x.numpy(), row.numpy()) for row in t_all])
        estimates = mine_mutual_information_batch(
            x.expand(t_all.shape[0], -1, -1).to(device),
            t_all.to(device),
            n_estimators=mine.estimators,
            hidden=mine.hidden,
            steps=mine.steps,
            batch_size=mine.batch_size,
            lr=mine.lr,
            seed=sweep.data_seed + w_index,
            # The lab measures MINE's bias on its exact linear cells, not at zero MI.
            null_estimators=False,
        )
        for c, (activation, depth, stage, exact) in enumerate(keys):
            part = estimates[c * k : (c + 1) * k]
            cells.append(
                GaussianCell(
                    activation,
                    width,
                    depth,
                    stage,
                    exact,
                    ksg[c * k : (c + 1) * k],
                    np.array([m.estimate for m in part]),
                    np.array([m.low for m in part]),
                    np.array([m.high for m in part]),
                )
            )
        if on_progress is not None:
            on_progress(w_index + 1, len(sweep.widths))
    return cells
