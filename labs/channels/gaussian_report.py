"""The Gaussian step's bookkeeping: each estimator's measured bias, flags, arrays, summary section.

KSG and MINE are biased (both fall short of large MI; see :mod:`.gaussian`). The linear cells
have an exact answer, so each estimator's bias is *measured* there, per width and stage:

    bias(estimator, stage, w) = mean over linear nets of width w (all depths, seeds) of
                                (estimate - exact)                                     bits

Every nonlinear estimate is shown beside the bias of its estimator at the same width and stage,
and flagged when its size is within that bias, |estimate| <= |bias|: such a number is no larger
than the error the estimator makes where the truth is known, so it cannot be told from that
error. The bias is measured at the linear cells' MI, which is not the nonlinear cells' MI, and
it grows with the MI (MINE's and KSG's shortfall both do), so it is a scale, not a correction.
No verdict is drawn from the Gaussian numbers; they are reported beside the exact binary map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.core.lab import RunContext

from .config import ChannelsConfig
from .gaussian import STAGES, GaussianCell

__all__ = [
    "ESTIMATORS",
    "EstimatorBias",
    "bias_of",
    "flagged",
    "gaussian_section",
    "linear_bias",
    "save_arrays",
    "side_by_side",
    "within_bias",
]

FloatArray = npt.NDArray[np.float64]

#: The estimators whose bias is measured, by their GaussianCell field.
ESTIMATORS = ("ksg", "mine")


@dataclass(frozen=True)
class EstimatorBias:
    """An estimator's error on the exact linear cells of one width and stage, bits."""

    estimator: str
    stage: str
    width: int
    mean: float
    sd: float
    nets: int


def linear_bias(cells: Sequence[GaussianCell]) -> list[EstimatorBias]:
    """Mean and SD of (estimate - exact) over the linear nets of each (estimator, stage, width).

    Widths with no linear cell get NaN (the lab always sweeps linear, so this is a guard).
    """
    out = []
    for estimator in ESTIMATORS:
        for stage in STAGES:
            for width in sorted({c.width for c in cells}):
                errors = np.concatenate(
                    [
                        getattr(c, estimator) - c.exact
                        for c in cells
                        if c.activation == "linear" and c.stage == stage and c.width == width
                    ]
                    or [np.zeros(0)]
                )
                mean = float(errors.mean()) if errors.size else math.nan
                sd = float(errors.std(ddof=1)) if errors.size > 1 else math.nan
                out.append(EstimatorBias(estimator, stage, width, mean, sd, int(errors.size)))
    return out


def bias_of(
    biases: Sequence[EstimatorBias], estimator: str, stage: str, width: int
) -> EstimatorBias:
    """The bias entry of one estimator, stage and width."""
    for b in biases:
        if (b.estimator, b.stage, b.width) == (estimator, stage, width):
            return b
    raise KeyError((estimator, stage, width))


#: Multiples m of the bias the flag rule |estimate| <= m·|bias| is redone at (the summary shows
#: how many estimates each flags, so the rule's arbitrary m = 1 is seen beside its result).
FLAG_MULTIPLES = (0.5, 1.0, 2.0, 4.0)


def within_bias(estimate: float, bias: float, multiple: float = 1.0) -> bool:
    """|estimate| <= m·|bias|: the number is no larger than m times the estimator's error."""
    return math.isfinite(estimate) and math.isfinite(bias) and abs(estimate) <= multiple * abs(bias)


def flagged(
    cells: Sequence[GaussianCell], biases: Sequence[EstimatorBias], multiple: float = 1.0
) -> list[str]:
    """``act/d<depth>/w<width>/<stage>/<estimator>`` of nonlinear mean estimates within
    ``multiple`` times their bias."""
    out = []
    for c in cells:
        if c.activation == "linear":
            continue
        for estimator in ESTIMATORS:
            bias = bias_of(biases, estimator, c.stage, c.width).mean
            if within_bias(float(np.mean(getattr(c, estimator))), bias, multiple):
                out.append(f"{c.activation}/d{c.depth}/w{c.width}/{c.stage}/{estimator}")
    return out


def side_by_side(
    cells: Sequence[GaussianCell],
    activation: str,
    kind: str,
    depths: Sequence[int],
    widths: Sequence[int],
    ref: float,
) -> FloatArray:
    """``(depth, stage·width)`` mean I/reference: init columns, then trained columns."""
    grid = np.full((len(depths), len(STAGES) * len(widths)), math.nan)
    for c in cells:
        if c.activation == activation:
            j = STAGES.index(c.stage) * len(widths) + list(widths).index(c.width)
            grid[list(depths).index(c.depth), j] = float(np.mean(getattr(c, kind))) / ref
    return grid


def _row(c: GaussianCell, biases: Sequence[EstimatorBias]) -> str:
    ksg, mine = float(np.mean(c.ksg)), float(np.mean(c.mine))
    b_ksg = bias_of(biases, "ksg", c.stage, c.width).mean
    b_mine = bias_of(biases, "mine", c.stage, c.width).mean
    linear = c.activation == "linear"
    mark_k = "" if linear or not within_bias(ksg, b_ksg) else " †"
    mark_m = "" if linear or not within_bias(mine, b_mine) else " †"
    exact = f"{np.mean(c.exact):.3f}" if linear else "—"
    low, high = float(np.mean(c.mine_low)), float(np.mean(c.mine_high))
    return (
        f"| {c.activation} | {c.depth} | {c.width} | {c.stage} | {exact} | "
        f"{ksg:.3f}{mark_k} | {b_ksg:+.3f} | {mine:.3f} [{low:.2f}, {high:.2f}]{mark_m} | "
        f"{b_mine:+.3f} |"
    )


def gaussian_section(
    cells: Sequence[GaussianCell], biases: Sequence[EstimatorBias], ref: float, noise: float
) -> list[str]:
    """The summary's Gaussian section: every cell and stage, each estimate beside its bias."""
    n_flag = len(flagged(cells, biases))
    n_all = sum(c.activation != "linear" for c in cells) * len(ESTIMATORS)
    sweep = ", ".join(f"{m:g}×: {len(flagged(cells, biases, m))}" for m in FLAG_MULTIPLES)
    lines = [
        "## Gaussian inputs (bits, mean over nets; reference "
        f"{ref:.3f} bits = X read at noise {noise:g})",
        "",
        "Exact for linear nets; KSG and MINE for all. *bias* is the estimator's mean error "
        "(estimate − exact) on the linear nets of the same width and stage; † marks a "
        f"nonlinear estimate within that bias (|estimate| ≤ |bias|): {n_flag} of {n_all} "
        f"(flagged at other multiples m of the bias, |estimate| ≤ m·|bias|: {sweep}). "
        "The MINE interval is the mean of the nets' intervals. Trained: a fixed random "
        "teacher's sign 1[vᵀx > 0]. No verdict is drawn from these numbers.",
        "",
        "| act | depth | width | stage | exact | KSG | KSG bias | MINE [interval] | MINE bias |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = sorted(
        cells, key=lambda c: (c.activation != "linear", c.activation, c.width, c.depth, c.stage)
    )
    lines += [_row(c, biases) for c in order]
    return lines


def save_arrays(
    ctx: RunContext,
    cfg: ChannelsConfig,
    acts: tuple[str, ...],
    cells: list[GaussianCell],
    biases: list[EstimatorBias],
    ref: float,
) -> None:
    """Per activation and estimator: init grid and init | trained side by side; the bias table."""
    widths = list(cfg.gaussian_widths)
    flags = flagged(cells, biases)
    for act in acts:
        for kind in ("exact", *ESTIMATORS):
            if kind == "exact" and act != "linear":
                continue
            side = side_by_side(cells, act, kind, cfg.depths, widths, ref)
            ours = [f for f in flags if f.startswith(f"{act}/") and f.endswith(f"/{kind}")]
            cells_of = [f.removeprefix(f"{act}/").removesuffix(f"/{kind}") for f in ours]
            note = _flag_note(kind, cells_of)
            note_init = _flag_note(kind, [f for f in cells_of if f.endswith("/init")])
            labels = {"depth": [f"d{d}" for d in cfg.depths], "width": [f"w{w}" for w in widths]}
            ctx.save_array(
                f"gaussian/{act}/{kind}",
                side[:, : len(widths)],
                axes=("depth", "width"),
                labels=labels,
                description=f"I(X; T)/reference by {kind}, {act}, at init{note_init}",
            )
            ctx.save_array(
                f"gaussian/{act}/{kind}_init_vs_trained",
                side,
                axes=("depth", "width"),
                labels=labels | {"width": [f"i{w}" for w in widths] + [f"t{w}" for w in widths]},
                description=f"I(X; T)/reference by {kind}, {act}: init (i) | trained (t){note}",
            )
    table = np.array(
        [[bias_of(biases, e, s, w).mean for w in widths] for s in STAGES for e in ESTIMATORS]
    )
    ctx.save_array(
        "gaussian/bias",
        table,
        axes=("estimator", "width"),
        labels={
            "estimator": [f"{e} {s}" for s in STAGES for e in ESTIMATORS],
            "width": [f"w{w}" for w in widths],
        },
        description="mean estimate - exact on the linear nets of each width, bits (rows: "
        "estimator and stage); a nonlinear estimate within it is flagged",
    )


def _flag_note(kind: str, cells: Sequence[str]) -> str:
    """The description's flag clause: which cells' ``kind`` estimates are within its bias."""
    if not cells:
        return ""
    return f"; within the {kind} bias of linear nets: " + ", ".join(cells)
