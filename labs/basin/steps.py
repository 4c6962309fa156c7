"""The steps of the basin lab, on the lab contract: each reads ``ctx.state`` and writes through ctx.

Tasks are the source's ensembles (with ``from_run``) or the configured tasks; layers are
``layer1 .. layerL`` (the last is the linear output).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from workbench.core.lab import RunContext
from workbench.core.sgld import SGLDProgress
from workbench.core.tasks import all_inputs

from .calibration import run_calibration, summary_line
from .compression import layer_entropies
from .config import BasinConfig
from .curvature import Curvature, floors, measure_curvature, thresholds
from .llc import LLCRun, run_llc
from .nets import TaskNets, load_nets, train_nets
from .summary import summarize
from .volume import measure_volumes

__all__ = ["LIVE_LLC", "calibration", "compression", "hessian", "llc", "nets", "summary", "volume"]

#: The running λ̂ per task while SGLD runs (``Lab.live_metrics``).
LIVE_LLC = "live/llc"

Results = dict[str, float | int | str | bool]


def _cfg(ctx: RunContext) -> BasinConfig:
    cfg: BasinConfig = ctx.config
    return cfg


def _nets(ctx: RunContext) -> dict[str, TaskNets]:
    out: dict[str, TaskNets] = ctx.state["nets"]
    return out


def _measured(ctx: RunContext) -> dict[str, TaskNets]:
    """Tasks with at least one trained net (the others are reported, not measured)."""
    return {n: t for n, t in _nets(ctx).items() if t.model.n_seeds > 0}


def _eps_label(v: float) -> str:
    return f"{v:.0e}"


# --- 1. nets -----------------------------------------------------------------------------------


def nets(ctx: RunContext) -> None:
    """Train the ensembles, or load the source run's nets."""
    cfg = _cfg(ctx)
    found = load_nets(ctx, cfg) if cfg.from_run else train_nets(ctx, cfg)
    n_bits = next(iter(found.values())).targets.shape[0].bit_length() - 1
    ctx.state["nets"] = found
    ctx.state["x"] = all_inputs(n_bits).to(ctx.device)
    results: Results = {}
    for name, tn in found.items():
        results[f"{name}/nets/count"] = int(tn.all_trained.size)
        results[f"{name}/nets/trained"] = int(tn.all_trained.sum())
        results[f"{name}/nets/params"] = int(tn.model.params.shape[1])
        if tn.final_loss.size:
            results[f"{name}/nets/final_loss/max"] = float(tn.final_loss.max())
    ctx.set_results(results)


# --- 2. calibration ----------------------------------------------------------------------------


def calibration(ctx: RunContext) -> None:
    """Known answers for every estimator, recorded beside their truths."""
    cfg = _cfg(ctx)
    measured = _measured(ctx)
    first = next(iter(measured.values()), None)
    checks = run_calibration(cfg, first, ctx.state["x"], ctx.device)
    results: Results = {}
    for check in checks:
        results.update(check.results())
    results["calibration/passed"] = all(c.ok for c in checks)
    results["calibration/summary"] = summary_line(checks)
    results["calibration/tolerance"] = cfg.calibration_tolerance
    ctx.set_results(results)
    ctx.state["calibration"] = checks


# --- 3. Hessian --------------------------------------------------------------------------------


def hessian(ctx: RunContext) -> None:
    """Spectra and the Hessian measures of every net."""
    cfg = _cfg(ctx)
    out: dict[str, Curvature] = {}
    results: Results = {}
    eps_labels = [_eps_label(e) for e in cfg.eps_sweep]
    for i, (name, tn) in enumerate(_measured(ctx).items()):
        ctx.progress(i, len(_measured(ctx)), task=name)
        cur = measure_curvature(cfg, tn, ctx.state["x"])
        out[name] = cur
        lam = cur.eigenvalues
        ctx.save_array(
            f"{name}/hessian/eigenvalues",
            lam,
            axes=("seed", "rank"),
            description=f"Hessian eigenvalues per net, descending ({cur.method})",
        )
        band = np.quantile(lam, [0.1, 0.5, 0.9], axis=0)
        ctx.save_array(
            f"hessian/spectrum/{name}",
            band,
            axes=("quantile", "rank"),
            labels={"quantile": ["q10", "median", "q90"]},
            description="10%, 50%, 90% quantile of the k-th eigenvalue across nets",
        )
        ctx.save_array(
            f"{name}/hessian/count_above",
            cur.count_above,
            axes=("seed", "eps"),
            labels={"eps": eps_labels},
        )
        ctx.save_array(
            f"{name}/hessian/quadratic_log_volume",
            cur.log_volume,
            axes=("floor", "threshold", "seed"),
            labels={
                "floor": [_eps_label(f) for f in floors(cfg)],
                "threshold": [_eps_label(t) for t in thresholds(cfg)],
            },
            description="ln V of {½δᵀHδ <= T - L(w*)}, eigenvalues floored",
        )
        results[f"{name}/hessian/method"] = cur.method
        results[f"{name}/hessian/trace/median"] = float(np.median(cur.trace))
        results[f"{name}/hessian/top/median"] = float(np.median(cur.top))
        results[f"{name}/hessian/negative/total"] = int(cur.n_negative.sum())
        results[f"{name}/hessian/zero/total"] = int(cur.n_zero.sum())
        results[f"{name}/hessian/floored/median"] = float(np.median(cur.n_floored[0]))
        results[f"{name}/hessian/quadratic_log_volume/median"] = float(
            np.nanmedian(cur.log_volume[0, 0])
        )
        for j, lab in enumerate(eps_labels):
            results[f"{name}/hessian/above_{lab}/median"] = float(np.median(cur.count_above[:, j]))
    ctx.set_results(results)
    ctx.state["curvature"] = out


# --- 4. LLC ------------------------------------------------------------------------------------


def llc(ctx: RunContext) -> None:
    """λ̂ by batched SGLD for every net, chain traces, diagnostics and the sweeps."""
    cfg = _cfg(ctx)
    measured = _measured(ctx)
    offset = cfg.steps if not cfg.from_run else 0
    total = 2 * (cfg.burn_in + cfg.draws)

    def live(kind: str, progress: SGLDProgress, names: list[str]) -> None:
        done = progress.step + (cfg.burn_in + cfg.draws if kind == "sweep" else 0)
        ctx.progress(done, total, phase=kind)
        if kind != "main":
            return
        task = np.asarray(names)
        records: list[dict[str, Any]] = []
        for name in dict.fromkeys(names):
            rows = task == name
            running = progress.running_llc[0, rows]
            if np.isfinite(running).any():
                records.append(
                    {"step": progress.step, "task": name, LIVE_LLC: float(np.nanmedian(running))}
                )
            seeds = measured[name].seeds
            records += [
                {
                    "step": offset + progress.step,
                    "task": f"{name} sgld",
                    "seed": s,
                    "loss": float(v),
                }
                for s, v in zip(seeds, progress.loss[0, rows], strict=True)
            ]
        ctx.log_metrics(records)

    run = run_llc(cfg, measured, ctx.state["x"], callback=live)
    ctx.state["llc"] = run
    _save_llc(ctx, run)


def _save_llc(ctx: RunContext, run: LLCRun) -> None:
    main = run.main
    results: Results = {}
    ctx.save_array("llc/trace_steps", main.trace_steps, axes=("kept",))
    for name in dict.fromkeys(run.task_of_net.tolist()):
        rows = run.task_of_net == name
        chains = main.llc_chains[0, rows]
        ctx.save_array(
            f"{name}/llc/chains", chains, axes=("seed", "chain"), description="λ̂ per chain"
        )
        ctx.save_array(
            f"{name}/llc/trace",
            main.trace[0, rows],
            axes=("seed", "chain", "kept"),
            description="SGLD loss trace per chain (every llc/trace_steps step)",
        )
        ctx.save_array(f"{name}/llc/rhat", main.rhat[0, rows], axes=("seed",))
        ctx.save_array(
            f"{name}/llc/trace_median",
            np.nanmedian(main.trace[0, rows], axis=(0, 1)),
            axes=("kept",),
            description="median SGLD loss over nets and chains",
        )
        lam = main.llc[0, rows]
        results[f"{name}/llc/mean"] = (
            float(np.nanmean(lam)) if np.isfinite(lam).any() else float("nan")
        )
        results[f"{name}/llc/median"] = (
            float(np.nanmedian(lam)) if np.isfinite(lam).any() else float("nan")
        )
        results[f"{name}/llc/chain_spread/median"] = float(np.nanmedian(main.llc_std[0, rows]))
        results[f"{name}/llc/rhat/median"] = float(np.nanmedian(main.rhat[0, rows]))
        results[f"{name}/llc/rhat/max"] = float(np.nanmax(main.rhat[0, rows]))
        results[f"{name}/llc/negative/count"] = int((chains < 0).sum())
        results[f"{name}/llc/diverged/count"] = int(main.diverged[0, rows].sum())
        # λ ≤ d/2 for any model (Watanabe, 2009): chains above it mean the sampler is unstable.
        half_d = ctx.state["nets"][name].model.params.shape[1] / 2
        results[f"{name}/llc/above_half_d/count"] = int((chains > half_d).sum())
        top = float(np.median(ctx.state["curvature"][name].top))
        s = main.settings[0]
        results[f"{name}/llc/stability"] = s.step_size * (s.nbeta * top + s.localization) / 2
    if run.sweep is not None:
        for k, (kind, value) in enumerate(run.sweep_labels):
            for name in dict.fromkeys(run.task_of_sweep_net.tolist()):
                rows = run.task_of_sweep_net == name
                key = f"llc_sweep/{kind}/{value:g}/{name}"
                with np.errstate(invalid="ignore"):
                    results[f"{key}/median"] = float(np.nanmedian(run.sweep.llc[k, rows]))
                results[f"{key}/diverged_fraction"] = float(run.sweep.diverged[k, rows].mean())
                results[f"{key}/rhat_median"] = float(np.nanmedian(run.sweep.rhat[k, rows]))
    ctx.set_results(results)


# --- 5. volume ---------------------------------------------------------------------------------


def volume(ctx: RunContext) -> None:
    """Monte-Carlo basin volumes below every T."""
    cfg = _cfg(ctx)
    out = {}
    results: Results = {}
    labels = {"threshold": [_eps_label(t) for t in thresholds(cfg)]}
    for i, (name, tn) in enumerate(_measured(ctx).items()):
        ctx.progress(i, len(_measured(ctx)), task=name)
        vols = measure_volumes(cfg, tn, ctx.state["x"])
        out[name] = vols
        stack = np.stack([v.log_volume for v in vols.values()])
        ctx.save_array(
            f"{name}/volume/log_volume",
            stack,
            axes=("threshold", "seed"),
            labels=labels,
            description="MC ln V of the basin below T"
            + (" (per-layer normalised)" if cfg.normalize else ""),
        )
        ctx.save_array(
            f"{name}/volume/interval",
            np.stack([np.stack([v.lo, v.hi]) for v in vols.values()]),
            axes=("threshold", "end", "seed"),
            labels={**labels, "end": ["lo", "hi"]},
        )
        main = vols[cfg.threshold]
        ctx.save_array(f"{name}/volume/radii", main.radii, axes=("seed", "direction"))
        results[f"{name}/volume/log_volume/median"] = float(np.median(main.log_volume))
        results[f"{name}/volume/log_mean_radius/median"] = float(np.median(main.log_mean_radius))
        results[f"{name}/volume/censored/total"] = int(main.censored.sum())
    ctx.set_results(results)
    ctx.state["volume"] = out


# --- 6. compression ----------------------------------------------------------------------------


def compression(ctx: RunContext) -> None:
    """Layer entropies (= MI with the input) of the measured nets."""
    cfg = _cfg(ctx)
    out = {}
    results: Results = {}
    for name, tn in _measured(ctx).items():
        with torch.no_grad():
            h = layer_entropies(tn.model, ctx.state["x"], cfg.tol)
        out[name] = h
        keys = [f"layer{i + 1}" for i in range(h.shape[1])]
        ctx.save_array(
            f"{name}/entropy",
            h,
            axes=("seed", "layer"),
            labels={"layer": keys},
            description="H(layer) = I(input; layer), bits",
        )
        for j, key in enumerate(keys):
            results[f"{name}/entropy/{key}/mean"] = float(h[:, j].mean())
    ctx.set_results(results)
    ctx.state["entropy"] = out


# --- 7. summary --------------------------------------------------------------------------------


def summary(ctx: RunContext) -> None:
    """Comparisons, correlations, verdicts, robustness, scatter arrays and summary.md."""
    summarize(ctx)
