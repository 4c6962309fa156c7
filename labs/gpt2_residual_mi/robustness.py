"""Per-hook reduction of a pass, and the flags that say when a Gaussian MI is not to be read.

A pass's accumulators are reduced to :class:`HookPass` numbers (then freed); the K passes
are combined into one :class:`HookResult` per hook point with its flags:

* ``ridge_set``: the joint covariance was singular in some pass, so the estimate is set by
  the ridge; it gets no interval and is left out of every count, family and headline;
* ``near_singular``: the joint correlation matrix's condition number exceeds the threshold;
* ``noise_fragile``: independent noise at ``noise_flag_fraction`` of each feature's SD moves
  the MI by more than ``noise_flag_move`` of itself (the MI rests on tiny-variance
  directions); the noise sweep is the ridge ``λ = f²`` (see ``gaussian``);
* ``above_ceiling``: the Gaussian MI exceeds the Shannon ceiling's upper end (``ceiling``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.core.measures.gaussian import (
    correlation_condition_number,
    noise_floor_mutual_information,
)
from workbench.measures import StreamingJointCovariance
from workbench_labs.gpt2_residual_mi.analysis import MIPoint, mi_point
from workbench_labs.gpt2_residual_mi.stream import ResidualAccumulators
from workbench_labs.gpt2_residual_mi.twins import Combined, combine, combine_difference

__all__ = ["FLAG_WORDS", "HookPass", "HookResult", "combine_passes", "reduce_pass"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

#: Short names of the flags, as shown in the table and the heatmap labels.
FLAG_WORDS = {
    "ridge_set": "ridge",
    "near_singular": "κ",
    "noise_fragile": "noise",
    "above_ceiling": ">ceiling",
}


def _leave_out(acc: StreamingJointCovariance, ridge: float) -> FloatArray:
    from workbench.measures import gaussian_mutual_information_from_covariance

    dx = acc.dims[0]

    def statistic(cov: Any, n: int) -> float:
        return gaussian_mutual_information_from_covariance(cov, dx, n, ridge=ridge).bits

    return acc.jackknife_values(statistic)[1]


@dataclass(frozen=True)
class HookPass:
    """One hook point's numbers from one pass (one twin).

    Attributes:
        point: Trained-versus-twin MI with its token interval and null.
        leave_out: (G,) its leave-one-group-out bias-corrected MIs (same ridge).
        baseline: Partner-versus-twin MI, or None when there was no partner.
        baseline_leave_out: (G,) its leave-one-group-out values, or None.
        condition: Condition number of the trained-twin joint correlation matrix.
        noise_bits: Bias-corrected MI at each noise fraction.
        copula: Gaussian-copula MI of (trained, twin), or None.
        kurtosis: Mean excess kurtosis over features of (trained, twin), or None.
    """

    point: MIPoint
    leave_out: FloatArray
    baseline: MIPoint | None = None
    baseline_leave_out: FloatArray | None = None
    condition: float = math.nan
    noise_bits: tuple[float, ...] = ()
    copula: MIPoint | None = None
    kurtosis: tuple[float, float] | None = None


def reduce_pass(
    acc: ResidualAccumulators, level: float, noise_fractions: Sequence[float]
) -> dict[str, HookPass]:
    """Reduce one pass's accumulators to its numbers (the accumulators may then be freed)."""
    acc.finish()
    out = {}
    for name in acc.names:
        pair = acc.pairs[name]
        point = mi_point(pair, level)
        cov = pair.covariance_tensor()
        noise = noise_floor_mutual_information(cov, pair.dims[0], pair.n, list(noise_fractions))
        base = acc.baseline[name] if acc.baseline is not None else None
        base_point = mi_point(base, level) if base is not None else None
        cop = acc.copula[name].acc if acc.copula is not None else None
        kurt = None
        if acc.kurtosis is not None:
            a, b = acc.kurtosis[name]
            kurt = (float(np.nanmean(a.excess_kurtosis())), float(np.nanmean(b.excess_kurtosis())))
        out[name] = HookPass(
            point=point,
            leave_out=_leave_out(pair, point.ridge),
            baseline=base_point,
            baseline_leave_out=(
                _leave_out(base, base_point.ridge)
                if base is not None and base_point is not None
                else None
            ),
            condition=correlation_condition_number(cov),
            noise_bits=tuple(e.bits for e in noise),
            copula=_copula_point(cop, level),
            kurtosis=kurt,
        )
    return out


def _copula_point(acc: StreamingJointCovariance | None, level: float) -> MIPoint | None:
    if acc is None or acc.n == 0:
        return None
    details = acc.gaussian_mutual_information_details()
    interval = acc.gaussian_mutual_information_interval(level)
    return MIPoint(
        n_tokens=acc.n,
        bits=details.bits,
        plugin_bits=details.plugin_bits,
        low=interval.low,
        high=interval.high,
        null_mean=math.nan,
        null_q95=math.nan,
        null_corrected_mean=math.nan,
        p_value=math.nan,
        ridge=details.ridge,
    )


@dataclass(frozen=True)
class HookResult:
    """One hook point over all twins, with its flags.

    Attributes:
        name: The hook point.
        passes: Its :class:`HookPass` per twin.
        trained_twin: Trained-versus-twin MI over twins and tokens (interval NaN if ridge-set).
        twin_twin: Partner-versus-twin baseline over twins and tokens, or None.
        difference: Trained-twin minus twin-twin, paired, or None.
        flags: Flag name -> raised (see :data:`FLAG_WORDS`).
        noise_move: Relative change of the first twin's MI at the judged noise fraction.
    """

    name: str
    passes: list[HookPass]
    trained_twin: Combined
    twin_twin: Combined | None
    difference: Combined | None
    flags: dict[str, bool] = field(default_factory=dict)
    noise_move: float = math.nan

    @property
    def ridge_set(self) -> bool:
        """Whether the estimate is set by a ridge (left out of every count)."""
        return self.flags.get("ridge_set", False)

    @property
    def flag_words(self) -> list[str]:
        """The raised flags' short names."""
        return [FLAG_WORDS[k] for k, v in self.flags.items() if v]


def _no_interval(c: Combined) -> Combined:
    nan = math.nan
    return Combined(c.bits, nan, nan, nan, nan, c.twin_sd, c.dof, c.per_twin)


def combine_passes(
    name: str,
    passes: list[HookPass],
    *,
    level: float,
    noise_fractions: Sequence[float],
    noise_flag_fraction: float,
    noise_flag_move: float,
    condition_threshold: float,
    ceiling_high: float,
) -> HookResult:
    """Combine a hook's passes over twins and raise its flags (module docstring)."""
    ridge_set = any(p.point.ridge > 0 for p in passes)
    tt = combine([p.point.bits for p in passes], [p.leave_out for p in passes], level)
    baseline = diff = None
    if all(p.baseline is not None and p.baseline_leave_out is not None for p in passes):
        b_bits = [p.baseline.bits for p in passes if p.baseline is not None]
        b_leave = [p.baseline_leave_out for p in passes if p.baseline_leave_out is not None]
        baseline = combine(b_bits, b_leave, level)
        diff = combine_difference(
            [p.point.bits for p in passes], [p.leave_out for p in passes], b_bits, b_leave, level
        )
        ridge_set = ridge_set or any(
            p.baseline is not None and p.baseline.ridge > 0 for p in passes
        )
    first = passes[0]
    judged = first.noise_bits[list(noise_fractions).index(noise_flag_fraction)]
    move = abs(judged - first.point.bits) / max(abs(first.point.bits), 1e-12)
    flags = {
        "ridge_set": ridge_set,
        "near_singular": not ridge_set and first.condition > condition_threshold,
        "noise_fragile": not ridge_set and move > noise_flag_move,
        "above_ceiling": not ridge_set and tt.bits > ceiling_high,
    }
    if ridge_set:
        tt = _no_interval(tt)
        baseline = _no_interval(baseline) if baseline is not None else None
        diff = _no_interval(diff) if diff is not None else None
    return HookResult(
        name=name,
        passes=passes,
        trained_twin=tt,
        twin_twin=baseline,
        difference=diff,
        flags=flags,
        noise_move=move,
    )
