"""Gaussian inputs: the information a noisy layer keeps, exact for linear nets, estimated else.

X ~ N(0, I_d). A deterministic layer h(X) of a continuous X has infinite MI with it, so the
layer is read through noise: T = h(X) + σ ε with ε ~ N(0, I) and σ = ``noise`` × s, s the
layer's pooled standard deviation (so the noise is relative, like the resolution of the
binary map). For a linear net h(X) = A X + b, T is Gaussian and

    I(X; T) = ½ log2 det(I + A Aᵀ / σ²)      bits (exact)

For nonlinear nets I(X; T) is estimated by KSG (Kraskov et al., 2004) and by MINE (Belghazi et
al., 2018) on ``samples`` draws; the linear nets are estimated the same way, so the estimators'
error is measured in the very cells where they are used. The reference is the input read at the
same relative noise, I(X; X + noise·ε) = (d/2) log2(1 + 1/noise²). It is a scale, not a ceiling:
a layer wider than d reads X through several independently noisy units and can exceed it, and a
layer narrower than d cannot reach it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import EnsembleMLP
from workbench.measures import ksg_mutual_information, mine_mutual_information_batch

from .nets import build_ensemble, hidden_layers

__all__ = ["GaussianCell", "linear_information", "measure_gaussian", "reference_information"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GaussianCell:
    """One cell of the Gaussian sweep, per seed (bits; ``exact`` is NaN for nonlinear nets)."""

    activation: str
    width: int
    depth: int
    exact: FloatArray
    ksg: FloatArray
    mine: FloatArray
    mine_low: FloatArray
    mine_high: FloatArray


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


def measure_gaussian(
    activations: Sequence[str],
    widths: Sequence[int],
    depths: Sequence[int],
    seeds: Sequence[int],
    dim: int,
    samples: int,
    noise: float,
    mine_steps: int,
    mine_estimators: int,
    data_seed: int,
    device: torch.device | str = "cpu",
    on_progress: Callable[[int, int], None] | None = None,
) -> list[GaussianCell]:
    """Every (activation, width, depth) cell at init: exact (linear), KSG and MINE, per seed."""
    gen = torch.Generator(device="cpu").manual_seed(data_seed)
    x = torch.randn(samples, dim, generator=gen, dtype=torch.float64)
    cells: list[GaussianCell] = []
    total = len(widths)
    for w_index, width in enumerate(widths):
        layers, exact, keys = [], [], []
        for activation in activations:
            for depth in depths:
                model = build_ensemble(width, depth, activation, 1.0, seeds, dim, 1, device)
                h = hidden_layers(model, x.to(device, torch.float32))[-1].to("cpu", torch.float64)
                s = (h - h.mean(dim=1, keepdim=True)).square().mean(dim=(1, 2)).sqrt()
                sigma = noise * s.clamp_min(1e-12)
                eps = torch.randn(h.shape, generator=gen, dtype=torch.float64)
                layers.append(h + sigma[:, None, None] * eps)  # (seed, samples, width)
                lin = activation == "linear"
                exact.append(
                    linear_information(model, sigma.numpy())
                    if lin
                    else np.full(len(seeds), math.nan)
                )
                keys.append((activation, depth))
        t = torch.cat(layers)  # (cell·seed, samples, width): one batched MINE per width
        ksg = np.array([ksg_mutual_information(x.numpy(), row.numpy()) for row in t])
        mine = mine_mutual_information_batch(
            x.expand(t.shape[0], -1, -1).to(device),
            t.to(device),
            n_estimators=mine_estimators,
            hidden=32,
            steps=mine_steps,
            batch_size=128,
            seed=data_seed + w_index,
        )
        k = len(seeds)
        for c, (activation, depth) in enumerate(keys):
            part = mine[c * k : (c + 1) * k]
            cells.append(
                GaussianCell(
                    activation,
                    width,
                    depth,
                    exact[c],
                    ksg[c * k : (c + 1) * k],
                    np.array([m.estimate for m in part]),
                    np.array([m.low for m in part]),
                    np.array([m.high for m in part]),
                )
            )
        if on_progress is not None:
            on_progress(w_index + 1, total)
    return cells
