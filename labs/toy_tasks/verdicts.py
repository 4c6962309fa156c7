"""Steps 5-6 of the toy-tasks lab: the robustness sweep and the verdict.

The claim: "nets of the first task (A) store less information than nets of the second (B)",
tested per layer on the entropies of the trained nets (:mod:`.stats`). Every test the summary
reports goes into one :class:`~workbench.core.inference.TestFamily` corrected with Holm:

* the main setting: the over-table test per layer (when B has >= 2 tables) and every per-table
  test per layer;
* the same claim at init (the random-init baseline, a built-in planted null);
* the claim's test at every other setting of the robustness sweep (trained threshold × rule ×
  tol).

Layers flagged "tolerance below the nets' precision" at a setting are left out there (their
codes measure fitting residue). The verdict is read from the main setting's claim tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.core.inference import TestFamily, decide, not_testable
from workbench.core.lab import RunContext

from .config import ToyTasksConfig
from .grouping import output_residual
from .measure import LayerMeasures, measure_posts
from .report import ReportData, summary_markdown
from .stats import SettingTests, power_over_tables, power_per_table, setting_tests
from .steps import layer_keys, layer_labels, main_runs
from .training import EnsembleRun, layer_posts, threshold_label

__all__ = ["ClaimSides", "claim_sides", "robustness", "summary"]

FloatArray = npt.NDArray[np.float64]
Results = dict[str, float | int | str | bool]


@dataclass(frozen=True)
class ClaimSides:
    """The ensembles of side A (the first task) and side B (the second)."""

    a: str
    b: str
    a_names: list[str]
    b_names: list[str]

    @property
    def claim(self) -> str:
        return f"{self.a} nets store less information than {self.b} nets"


def _config(ctx: RunContext) -> ToyTasksConfig:
    config: ToyTasksConfig = ctx.config
    return config


def claim_sides(ctx: RunContext) -> ClaimSides | None:
    """A and B from the config's first two tasks, or None with fewer than two tasks."""
    cfg = _config(ctx)
    if len(cfg.tasks) < 2:
        return None
    runs = main_runs(ctx)
    a, b = cfg.tasks[0], cfg.tasks[1]
    return ClaimSides(
        a,
        b,
        [n for n, r in runs.items() if r.group == a],
        [n for n, r in runs.items() if r.group == b],
    )


def settings(cfg: ToyTasksConfig) -> list[tuple[str, float]]:
    """The sweep's (rule, tol) pairs: both rules crossed with every tol."""
    return [(rule, tol) for rule in ("chained", "leader") for tol in cfg.tol_sweep]


def setting_label(rule: str, tol: float) -> str:
    return f"{rule} {tol:g}"


# --- step 5: robustness --------------------------------------------------------------------------


def robustness(ctx: RunContext) -> None:
    """The claim's tests at every trained threshold × rule × tol (permutations drawn once)."""
    cfg = _config(ctx)
    sides = claim_sides(ctx)
    ctx.state["robustness"] = {}
    if sides is None:
        return
    runs = main_runs(ctx)
    x = ctx.state["x"]
    grid = settings(cfg)
    thresholds = sorted(set(cfg.trained_thresholds), reverse=True)
    out: dict[float, tuple[SettingTests | str, npt.NDArray[np.bool_]]] = {}
    for ti, threshold in enumerate(thresholds):
        values: dict[str, FloatArray] = {}
        flags = np.zeros((len(grid), len(cfg.widths) + 1), dtype=bool)
        for name in sides.a_names + sides.b_names:
            run: EnsembleRun = runs[name]
            model = run.snapshot_model(threshold)
            if model is None:
                values[name] = np.zeros((len(grid), 0, len(cfg.widths) + 1))
                continue
            posts = layer_posts(model, x)
            residual = output_residual(posts[-1], run.task.targets, cfg.loss)
            per_setting = []
            for si, (rule, tol) in enumerate(grid):
                m: LayerMeasures = measure_posts(
                    posts, residual, run.task.targets.numpy(), tol=tol, rule=rule,
                    mode=cfg.tol_mode, distances=False,
                )  # fmt: skip
                per_setting.append(m.entropy)
                flags[si] |= m.flagged()
            values[name] = np.stack(per_setting)  # (setting, net, layer)
            ctx.progress(ti + 0.5, len(thresholds))
        tests = setting_tests(
            {n: values[n] for n in sides.a_names},
            {n: values[n] for n in sides.b_names},
            min_trained=cfg.min_trained,
            n_permutations=cfg.n_permutations,
            seed=ti,
        )
        out[threshold] = (tests, flags)
        ctx.progress(ti + 1, len(thresholds))
    ctx.state["robustness"] = out


# --- step 6: summary -----------------------------------------------------------------------------


def _main_tests(ctx: RunContext, sides: ClaimSides, source: str) -> SettingTests | str:
    cfg = _config(ctx)
    measures: dict[str, LayerMeasures | None] = ctx.state[source]
    n_layers = len(cfg.widths) + 1

    def values(names: list[str]) -> dict[str, FloatArray]:
        out = {}
        for n in names:
            m = measures.get(n)
            out[n] = (m.entropy if m is not None else np.zeros((0, n_layers)))[None]
        return out

    return setting_tests(
        values(sides.a_names), values(sides.b_names), min_trained=cfg.min_trained,
        n_permutations=cfg.n_permutations, seed=1000,
    )  # fmt: skip


def _claim_rows(t: SettingTests, s: int) -> list[tuple[str, FloatArray, FloatArray]]:
    """(suffix, p (L,), effect (L,)) of the tests that decide the claim at setting row s."""
    if t.over_tables:
        return [("over-tables", t.over_p[s], t.over_effect[s])]
    return [(t.clusters[0], t.per_p[s, 0], t.per_effect[s, 0])]


def summary(ctx: RunContext) -> None:
    """Build the family, correct it, decide, and write the summary."""
    cfg = _config(ctx)
    sides = claim_sides(ctx)
    n_layers = len(cfg.widths) + 1
    keys = layer_keys(n_layers)
    family = TestFamily("every test in summary.md", cfg.alpha)
    results: Results = {}
    warnings: list[str] = []
    main = init = None
    claim_names: list[str] = []
    flags = np.zeros(n_layers, dtype=bool)
    if sides is None:
        verdict = not_testable("a claim between two tasks", "only one task was trained")
    else:
        main = _main_tests(ctx, sides, "measures")
        init = _main_tests(ctx, sides, "baseline")
        for name in sides.a_names + sides.b_names:
            m = ctx.state["measures"].get(name)
            if m is not None:
                flags |= m.flagged()
        if isinstance(main, str):
            verdict = not_testable(sides.claim, main)
        else:
            claim_names = _add_main(family, main, flags, keys)
            if isinstance(init, SettingTests):
                _add_main(family, init, flags, keys, prefix="init/")
            _add_robustness(ctx, family, keys)
            verdict = decide(
                sides.claim, family, claim_names, testable=bool(claim_names),
                why_not=f"tolerance below the nets' precision in every layer at tol = {cfg.tol:g}",
            )  # fmt: skip
    if verdict.word == "not testable":
        warnings.append(f"not testable: {verdict.reason}")
    flagged = [keys[i] for i in np.flatnonzero(flags)]
    if flagged:
        warnings.append(f"tolerance below the nets' precision in {', '.join(flagged)}")
    results.update(verdict.as_results("summary/claim"))
    results["summary/claim"] = verdict.claim
    flag_note = f" [tolerance below the nets' precision in {', '.join(flagged)}]" if flagged else ""
    results["summary/finding"] = verdict.line() + flag_note
    results["summary/flagged_layers"] = ", ".join(flagged) or "none"
    results.update(family.as_results("summary/tests"))
    power = _power(family, main, keys, flags) if isinstance(main, SettingTests) else {}
    results.update({f"summary/power/{k}": v for k, v in power.items()})
    ctx.set_results(results)
    _save_robustness_verdicts(ctx, family, keys)
    ctx.write_text(
        "summary.md",
        summary_markdown(
            ReportData(
                cfg=cfg, runs=ctx.state["runs"], measures=ctx.state["measures"],
                baseline=ctx.state["baseline"], verdict=verdict, family=family,
                main=main if isinstance(main, SettingTests) else None,
                init=init if isinstance(init, SettingTests) else None,
                flags=flags, power=power, sides=sides, robustness=ctx.state["robustness"],
                grid=settings(cfg),
            )
        ),
    )  # fmt: skip
    if warnings:
        ctx.logger.warning("toy-tasks: %s", "; ".join(warnings))


def _add_main(
    family: TestFamily, t: SettingTests, flags: npt.NDArray[np.bool_], keys: list[str],
    prefix: str = "",
) -> list[str]:  # fmt: skip
    """Add the main setting's tests (per table and over tables); return the claim's names."""
    claim = []
    for i, key in enumerate(keys):
        if flags[i]:
            continue
        for c, cluster in enumerate(t.clusters):
            family.add(f"{prefix}{cluster}/{key}", t.per_p[0, c, i], t.per_effect[0, c, i])
        if t.over_tables:
            family.add(f"{prefix}over-tables/{key}", t.over_p[0, i], t.over_effect[0, i])
        suffix = "over-tables" if t.over_tables else t.clusters[0]
        claim.append(f"{prefix}{suffix}/{key}")
    return claim


def _add_robustness(ctx: RunContext, family: TestFamily, keys: list[str]) -> None:
    grid = settings(_config(ctx))
    for threshold, (tests, flags) in ctx.state["robustness"].items():
        if isinstance(tests, str):
            continue
        for (si, (rule, tol)), i in itertools.product(enumerate(grid), range(len(keys))):
            if flags[si, i]:
                continue
            for suffix, p, effect in _claim_rows(tests, si):
                name = f"robust/{threshold_label(threshold)}/{rule}/{tol:g}/{suffix}/{keys[i]}"
                family.add(name, p[i], effect[i])


def _save_robustness_verdicts(ctx: RunContext, family: TestFamily, keys: list[str]) -> None:
    """(threshold, setting) grids per layer: the effect, and +1/-1/0 after Holm."""
    cfg = _config(ctx)
    robust = ctx.state["robustness"]
    if not robust:
        return
    grid = settings(cfg)
    adjusted = family.adjusted()
    thresholds = list(robust)
    effect = np.full((len(thresholds), len(grid), len(keys)), np.nan)
    verdict = np.zeros(effect.shape, dtype=np.int8)
    for ti, threshold in enumerate(thresholds):
        tests, _ = robust[threshold]
        if isinstance(tests, str):
            continue
        for si, (rule, tol) in enumerate(grid):
            for suffix, _, eff in _claim_rows(tests, si):
                for i, key in enumerate(keys):
                    effect[ti, si, i] = eff[i]
                    name = f"robust/{threshold_label(threshold)}/{rule}/{tol:g}/{suffix}/{key}"
                    p = adjusted.get(name, np.nan)
                    if p <= cfg.alpha:
                        verdict[ti, si, i] = 1 if eff[i] > 0 else -1
    labels = {
        "threshold": [threshold_label(t) for t in thresholds],
        "setting": [setting_label(r, t) for r, t in grid],
        "layer": layer_labels(len(keys)),
    }
    for i, key in enumerate(keys):
        ctx.save_array(
            f"robustness/effect/{key}",
            effect[:, :, i],
            axes=("threshold", "setting"),
            labels=labels,
            description=f"claim effect in {key}, bits (positive: the first task stores less)",
        )
    ctx.save_array(
        "robustness/verdict",
        verdict,
        axes=("threshold", "setting", "layer"),
        labels=labels,
        description="+1: the first task stores significantly less (Holm); -1: more; 0: neither",
    )
    results: Results = {}
    for i, key in enumerate(keys):
        v = verdict[:, :, i]
        results[f"robustness/{key}/less_fraction"] = float((v == 1).mean())
        results[f"robustness/{key}/more_fraction"] = float((v == -1).mean())
    ctx.set_results(results)
    ctx.state["robustness_grid"] = (thresholds, effect, verdict)


def _power(
    family: TestFamily, t: SettingTests, keys: list[str], flags: npt.NDArray[np.bool_]
) -> dict[str, float]:
    """For each tested layer: power now and what 80% power needs, at Holm's floor α / m.

    Layers left out (flagged) or whose test was not run (every net at the same entropy) get
    no power analysis.
    """
    alpha = family.alpha / max(1, family.size)
    out: dict[str, float] = {}
    for i, key in enumerate(keys):
        if flags[i] or not np.isfinite(t.per_p[0, :, i]).any():
            continue
        if t.over_tables and np.isfinite(t.over_p[0, i]):
            now, tables, nets = power_over_tables(
                float(t.over_effect[0, i]), float(t.case_sd[0, i]), t.n_case,
                float(t.cluster_sd[0, i]), len(t.clusters), alpha,
            )  # fmt: skip
            out[f"{key}/power"], out[f"{key}/tables_needed"] = now, tables
            out[f"{key}/nets_needed_over_tables"] = nets
        d = float(np.nanmedian(t.per_d[0, :, i])) if t.per_d.size else float("nan")
        out[f"{key}/per_table_d"] = d
        out[f"{key}/nets_needed"] = power_per_table(d, alpha)
    return out
