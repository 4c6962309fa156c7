"""The basin lab's ``summary.md``: verdicts first, then every number and choice behind them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.core.inference import TestFamily, Verdict

if TYPE_CHECKING:
    from .analysis import Comparison, Correlation
    from .calibration import Check
    from .config import BasinConfig
    from .curvature import Curvature
    from .llc import LLCRun
    from .nets import TaskNets

__all__ = ["ReportData", "summary_markdown"]


@dataclass(frozen=True)
class ReportData:
    """Everything the summary prints."""

    cfg: BasinConfig
    nets: Mapping[str, TaskNets]
    checks: Sequence[Check]
    comparisons: Sequence[Comparison]
    correlations: Sequence[Correlation]
    robust: Sequence[tuple[str, str, Comparison]]
    broader: Verdict
    stores: Verdict
    family_broader: TestFamily
    family_stores: TestFamily
    table: Mapping[str, Mapping[str, Any]]
    llc: LLCRun
    curvature: Mapping[str, Curvature]


def _f(v: float, spec: str = ".3g") -> str:
    return "n/a" if not math.isfinite(v) else format(v, spec)


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def summary_markdown(d: ReportData) -> str:
    """The whole report."""
    cfg = d.cfg
    lines = [
        "# Basin broadness and compression",
        "",
        f"- **{d.broader.claim}**: {d.broader.line()}",
        f"- **{d.stores.claim}**: {d.stores.line()}",
        "",
        "## Nets",
        "",
        "| task | nets | trained (measured) | parameters | max final loss |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, tn in d.nets.items():
        loss = _f(float(tn.final_loss.max())) if tn.final_loss.size else "n/a"
        lines.append(
            f"| {name} | {tn.all_trained.size} | {int(tn.all_trained.sum())} | "
            f"{tn.model.params.shape[1]} | {loss} |"
        )
    lines += [
        "",
        f"Source: {'run ' + cfg.from_run if cfg.from_run else 'trained here'}; "
        f"trained = loss < {cfg.loss_threshold:g} ({cfg.loss}).",
        "",
        "## Calibration (known answers, this run)",
        "",
        f"Tolerance {cfg.calibration_tolerance:.0%} relative (Hessian checks: absolute or "
        "relative as stated).",
        "",
        "| check | estimate | truth | compared with | error | ok | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in d.checks:
        ok = "yes" if c.ok else "**no**"
        lines.append(
            _row(
                c.name,
                _f(c.estimate, ".4g"),
                _f(c.truth, ".4g"),
                _f(c.reference, ".4g"),
                _f(c.error, ".2e"),
                ok,
                c.note,
            )
        )
    lines += [
        "",
        "## Broadness per task (medians over nets)",
        "",
        "| task | λ̂ | chain spread | split-R̂ max | negative/diverged chains | trace | top eig "
        "| floored eigs | quadratic ln V | MC ln V |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    main = d.llc.main
    for name, m in d.table.items():
        rows = d.llc.task_of_net == name
        cur = d.curvature[name]
        chains = main.llc_chains[0, rows]
        flags = f"{int((chains < 0).sum())}/{int(main.diverged[0, rows].sum())}"
        lines.append(
            _row(
                name,
                _f(float(np.nanmedian(m["llc"]))),
                _f(float(np.nanmedian(main.llc_std[0, rows]))),
                _f(float(np.nanmax(main.rhat[0, rows]))),
                flags,
                _f(float(np.median(cur.trace))),
                _f(float(np.median(cur.top))),
                int(np.median(cur.n_floored[0])),
                _f(float(np.nanmedian(m["quadratic_log_volume"]))),
                _f(float(np.nanmedian(m["mc_log_volume"]))),
            )
        )
    lines += [
        "",
        f"Choices: nβ = {cfg.nbeta:g}, γ = {cfg.localization:g}, ε = {cfg.sgld_step:g}, "
        f"{cfg.chains} chains × {cfg.draws} draws after {cfg.burn_in} burn-in; "
        f"T = {cfg.threshold:g}; "
        f"eigenvalue floor {cfg.eig_floor:g}; {cfg.directions} MC directions"
        f"{' (per-layer normalised)' if cfg.normalize else ''}; Hessian {cfg.hessian}.",
        "",
    ]
    lines += [
        "## Simple against complex",
        "",
        f"`{cfg.simple_task}` against `{cfg.complex_task}`; 'broader by' > 0 means the simple "
        "task's basins are broader (λ̂, trace: lower; volumes: higher). 95% bootstrap interval, "
        f"two-sided permutation p ({cfg.n_permutations} permutations), Holm over "
        f"{d.family_broader.size} tests at α = {cfg.alpha:g}.",
        "",
        "| measure | mean simple | mean complex | broader by | 95% interval | Cohen's d | p "
        "| p (Holm) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    adj = d.family_broader.adjusted()
    for cmp in d.comparisons:
        lines.append(
            _row(
                cmp.measure,
                _f(cmp.mean_simple),
                _f(cmp.mean_complex),
                _f(cmp.broader_by),
                f"[{_f(cmp.lo)}, {_f(cmp.hi)}]",
                _f(cmp.cohens_d),
                _f(cmp.p_value, ".2g"),
                _f(adj.get(cmp.measure, math.nan), ".2g"),
            )
        )
    lines += [
        "",
        "## Broadness against compression (within task)",
        "",
        "Spearman ρ between the oriented broadness (larger = broader) and each layer's entropy "
        "(= MI with the input); ρ < 0 means broader nets store less. Holm over "
        f"{d.family_stores.size} tests.",
        "",
        "| task | measure | layer | ρ | p | p (Holm) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    adj2 = d.family_stores.adjusted()
    for cor in d.correlations:
        if math.isfinite(cor.rho):
            p_holm = _f(adj2.get(cor.name, math.nan), ".2g")
            lines.append(
                _row(cor.task, cor.measure, cor.layer, _f(cor.rho), _f(cor.p_value, ".2g"), p_holm)
            )
    skipped = sum(1 for c in d.correlations if not math.isfinite(c.rho))
    if skipped:
        lines += [
            "",
            f"{skipped} (task, measure, layer) pairs were not tested: the layer's entropy "
            "is the same for every net (e.g. a trained output layer holds exactly 1 bit).",
        ]
    lines += [
        "",
        "## Robustness (uncorrected p; does the direction survive the choices?)",
        "",
        "| setting | measure | broader by | p |",
        "| --- | --- | --- | --- |",
    ]
    for label, measure, rob in d.robust:
        lines.append(f"| {label} | {measure} | {_f(rob.broader_by)} | {_f(rob.p_value, '.2g')} |")
    return "\n".join(lines) + "\n"
