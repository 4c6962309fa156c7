"""Every number the fuzzy-xor lab shows, re-derived by a peer path.

Each ``[results]`` key and saved array is recomputed from the run's checkpoint and
arrays with numpy only: a numpy forward pass of the ensemble, numpy closed forms of the
fuzzy functions, R² from the correlation formula and ``np.linalg.lstsq``, mean-ablation
by rerunning the layers above, coverage by brute force over one-to-one assignments, and
the clusters checked against what average linkage guarantees.

Two runs are checked: a tiny one made here (8 networks with two hidden layers, so the
deeper code paths run too, some converged and some not) and the shipped sample run
(``sample_projects/default``), so a sample made by stale or broken code fails here.

The last tests name two bugs this audit found (and fixed) in the maximisation summaries.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from workbench.core.ensemble import EnsembleMLP
from workbench.core.runner import run_lab
from workbench.core.runs import Project, Run, init_project
from workbench.core.samples import sample_project_source
from workbench_labs.fuzzy_xor import LAB
from workbench_labs.fuzzy_xor.maximisation import maximiser_agreement, responding_fraction
from workbench_labs.fuzzy_xor.references import reference_networks
from workbench_labs.fuzzy_xor.steps import reference_error
from workbench_labs.fuzzy_xor.strategies import (
    StrategyScores,
    classify_strategies,
    cluster_profiles,
)

#: The tiny run made by this module.
CONFIG: dict[str, Any] = {
    "seeds": 8,
    "widths": [5, 4],
    "steps": 400,
    "lr": 0.03,
    "samples": 128,
    "grid": 13,
    "converged_mse": 0.02,
    "restarts": 6,
    "ascent_steps": 30,  # enough for the best start to reach 1, not for every start
    "log_every": 40,
}
MATCHED_R2 = 0.99  # the lab's "matched" threshold (steps.MATCHED_R2), part of its definition
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# --- closed forms, numpy --------------------------------------------------------------------


def XOR(a: FloatArray, b: FloatArray) -> FloatArray:
    """Fuzzy XOR = min(max(a, b), 1 − min(a, b))."""
    return np.minimum(np.maximum(a, b), 1 - np.minimum(a, b))


#: Every reference neuron's function, written out independently of the lab.
LABELS: dict[str, Callable[[FloatArray, FloatArray], FloatArray]] = {
    "a": lambda a, b: a + 0 * b,
    "b": lambda a, b: b + 0 * a,
    "a ⊖ b": lambda a, b: np.maximum(0, a - b),
    "b ⊖ a": lambda a, b: np.maximum(0, b - a),
    "T_L(a,b)": lambda a, b: np.maximum(0, a + b - 1),
    "NOR_L(a,b)": lambda a, b: np.maximum(0, 1 - a - b),
    "OR": np.maximum,
    "NAND": lambda a, b: 1 - np.minimum(a, b),
    "a AND NOT b": lambda a, b: np.minimum(a, 1 - b),
    "NOT a AND b": lambda a, b: np.minimum(1 - a, b),
    "|a − b|": lambda a, b: np.abs(a - b),
    "|a + b − 1|": lambda a, b: np.abs(a + b - 1),
}


def _grid(side: int) -> FloatArray:
    """side² points of [0, 1]², corners included, a varying slowest."""
    axis = np.linspace(0.0, 1.0, side)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)


def _forward(
    layers: list[tuple[FloatArray, FloatArray]], h: FloatArray, start: int = 0
) -> list[FloatArray]:
    """Post-activations of layers ``start``, ``start + 1``, ...: ReLU hidden, linear output.

    ``h``: (seed, n, d) or, shared by all seeds, (n, d): the input of layer ``start``;
    weights (seed, out, in), biases (seed, out).
    """
    posts = []
    for i, (w, b) in enumerate(layers[start:], start):
        pattern = "ni,soi->sno" if h.ndim == 2 else "sni,soi->sno"
        h = np.einsum(pattern, h, w) + b[:, None, :]
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
        posts.append(h)
    return posts


def _constant(acts: FloatArray) -> np.ndarray:  # type: ignore[type-arg]
    """(seed, n, units) -> (seed, units): std ≤ 1e-6 · max(rms, 1), the lab's definition."""
    return acts.std(axis=1) <= 1e-6 * np.maximum(np.sqrt((acts**2).mean(axis=1)), 1.0)


def _r2(acts: FloatArray, f: FloatArray) -> FloatArray:
    """Squared Pearson correlation of every neuron with f, (seed, units); 0 for constants."""
    y = acts - acts.mean(axis=1, keepdims=True)
    g = f - f.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.einsum("snu,n->su", y, g) / np.sqrt((y**2).sum(axis=1) * (g**2).sum())
    return np.where(_constant(acts), 0.0, r**2)


def _affine_r2(acts: FloatArray, x: FloatArray) -> FloatArray:
    """R² of the least-squares fit y ≈ c + w·x of every neuron, (seed, units); 1 for constants."""
    seeds, n, units = acts.shape
    design = np.column_stack([np.ones(n), x])
    y = acts.transpose(1, 0, 2).reshape(n, -1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1 - ((y - design @ coef) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    return np.where(_constant(acts), 1.0, r2.reshape(seeds, units))


# --- the run and its peer -------------------------------------------------------------------


class Peer:
    """A run, and the numbers recomputed from its checkpoint."""

    def __init__(self, run: Run, kind: str) -> None:
        self.run = run
        self.kind = kind
        self.results = run.results
        self.config = LAB.make_config(run.config)
        self.n_hidden = sum(self.config.widths)
        state = run.checkpoint("ensemble")
        n_layers = sum(1 for k in state if k.endswith(".weight"))
        self.layers = [
            (
                state[f"layers.{i}.weight"].double().numpy(),
                state[f"layers.{i}.bias"].double().numpy(),
            )
            for i in range(n_layers)
        ]
        self.grid = _grid(self.config.grid)
        posts = _forward(self.layers, self.grid)
        self.hidden = posts[:-1]  # per layer (seed, n_points, width)
        self.output = posts[-1][:, :, 0]  # (seed, n_points)
        self.acts = np.concatenate(self.hidden, axis=2)  # (seed, n_points, n_hidden)
        self.n_seeds = self.acts.shape[0]
        self.converged = run.array("train/converged").astype(bool)
        self.candidate_names = run.array_meta("match/r2")["labels"]["candidate"]

    def status(self) -> np.ndarray:  # type: ignore[type-arg]
        """(seed, n_hidden): constant, affine, unused or informative, recomputed."""
        out = np.full(self.acts.shape[::2], "informative", dtype="<U11")
        out[self.ablation_effect() < self.config.relevance] = "unused"
        out[_affine_r2(self.acts, self.grid) >= self.config.affine_threshold] = "affine"
        out[_constant(self.acts)] = "constant"
        return out

    def ablation_effect(self) -> FloatArray:
        """RMS output change when each neuron is set to its grid mean (layers above rerun)."""
        effects = []
        for layer, h in enumerate(self.hidden):
            for u in range(h.shape[2]):
                ablated = h.copy()
                ablated[:, :, u] = h[:, :, u].mean(axis=1, keepdims=True)
                out = _forward(self.layers, ablated, start=layer + 1)[-1][:, :, 0]
                effects.append(np.sqrt(((out - self.output) ** 2).mean(axis=1)))
        return np.stack(effects, axis=1)


@pytest.fixture(scope="module", params=["tiny", "sample"])
def peer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Peer:
    if request.param == "sample":
        (run,) = [r for r in Project(sample_project_source()).runs() if r.lab == LAB.name]
        return Peer(run, "sample")
    project = init_project(tmp_path_factory.mktemp("fuzzy-numbers") / "proj")
    run = run_lab(LAB, LAB.make_config(CONFIG), project, device="cpu")
    assert run.status == "completed"
    found = Peer(run, "tiny")
    # The checks below only discriminate if the run has both kinds of network.
    assert 0 < found.converged.sum() < CONFIG["seeds"], run.array("train/grid_mse")
    return found


# --- train ----------------------------------------------------------------------------------


def test_grid_error_and_convergence_follow_from_the_checkpoint(peer: Peer) -> None:
    r = peer.results
    mse = ((peer.output - XOR(peer.grid[:, 0], peer.grid[:, 1])) ** 2).mean(axis=1)
    saved = peer.run.array("train/grid_mse")
    np.testing.assert_allclose(saved, mse, rtol=1e-5, atol=1e-9)
    converged = np.isfinite(saved) & (saved < peer.config.converged_mse)
    np.testing.assert_array_equal(peer.converged, converged)
    assert r["train/converged/count"] == converged.sum()
    assert r["train/converged/fraction"] == pytest.approx(converged.sum() / peer.config.seeds)
    assert r["train/grid_mse/median"] == pytest.approx(np.median(saved[np.isfinite(saved)]))
    history = peer.run.array("train/loss_history")
    assert r["train/diverged/count"] == int((~np.isfinite(history[:, -1])).sum())
    assert r["train/seconds"] > 0


def test_loss_history_is_the_training_mse_at_each_report(peer: Peer) -> None:
    steps = peer.run.array("train/report_steps")
    every, total = peer.config.log_every, peer.config.steps
    assert steps.tolist() == [*range(every, total, every), total]
    history = peer.run.array("train/loss_history")  # (seed, report)
    assert history.shape == (peer.config.seeds, steps.size)
    # The last report is the full-batch MSE after the last update: the checkpoint's.
    gen = torch.Generator().manual_seed(peer.config.data_seed)
    x = torch.rand(peer.config.samples, 2, generator=gen, dtype=torch.float64).numpy()
    out = _forward(peer.layers, x)[-1][:, :, 0]
    mse = ((out - XOR(x[:, 0], x[:, 1])) ** 2).mean(axis=1)
    # The lab evaluates in float32: outputs carry ~1e-7 relative error.
    np.testing.assert_allclose(history[:, -1], mse, rtol=1e-4, atol=1e-10)
    finite = [row[np.isfinite(row)] for row in history.T]
    np.testing.assert_allclose(
        peer.run.array("train/loss_median"), [np.median(row) for row in finite], rtol=1e-12
    )
    # metrics.jsonl carries the same losses, one record per seed per report.
    metrics = peer.run.metrics()
    for step, seed, loss in zip(metrics["step"], metrics["seed"], metrics["loss"], strict=True):
        report = steps.tolist().index(int(step))
        assert loss == pytest.approx(history[int(seed) - peer.config.seed, report], rel=1e-12)
    assert len(metrics["loss"]) == history.size


# --- references -----------------------------------------------------------------------------


def test_reference_errors_are_float64_exact_and_add_up(peer: Peer) -> None:
    r = peer.results
    nets = reference_networks()
    # 3 multi-layer constructions and 3 × 3 one-layer ones (one or both creases per diagonal).
    assert r["reference/count"] == len(nets) == 3 + 3 * 3
    points = np.concatenate([_grid(101), np.random.default_rng(0).random((2000, 2))])
    errors = []
    for net in nets:
        layers = [(w.numpy(), b.numpy()) for w, b in net.layers]
        out = _forward(layers, points)[-1][0, :, 0]
        peer_error = np.abs(out - XOR(points[:, 0], points[:, 1])).max()
        assert peer_error <= 1e-12, net.name
        reported = r[f"reference/{net.name}/max_error"]
        assert 0 <= reported <= 1e-12, net.name
        errors.append(reported)
        assert f"max |error| = {reported:.1e}" in peer.run.text("references.md")
    assert r["reference/max_error"] == max(errors)


def test_reference_error_measures_a_wrong_construction() -> None:
    """Closed form: shifting the output bias by δ makes |output − XOR| = δ everywhere, and
    shifting a hidden bias by δ makes that neuron miss its closed form by δ where active."""
    points = torch.from_numpy(np.random.default_rng(1).random((500, 2)))
    net = next(n for n in reference_networks() if n.name == "four-creases")
    for layer, unit in ((1, 0), (0, 2)):
        layers = [(w.clone(), b.clone()) for w, b in net.layers]
        layers[layer][1][0, unit] += 0.125
        broken = type(net)(net.name, net.formula, tuple(layers), net.neurons)
        # The output moves by w_out·δ (0.5·δ here) for the hidden bias, so the neuron's own
        # error δ is the larger of the two.
        assert reference_error(broken, points) == pytest.approx(0.125, abs=1e-12)


# --- match ----------------------------------------------------------------------------------


def test_neuron_status_counts_are_recomputed_from_the_checkpoint(peer: Peer) -> None:
    r = peer.results
    status = peer.status()
    assert r["match/neurons/total"] == peer.config.seeds * peer.n_hidden == status.size
    for kind in ("constant", "affine", "unused", "informative"):
        assert r[f"match/neurons/{kind}"] == int((status == kind).sum()), kind
    informative = peer.run.array("match/informative").astype(bool)
    np.testing.assert_array_equal(informative, status == "informative")
    np.testing.assert_allclose(
        peer.run.array("match/ablation_effect"), peer.ablation_effect(), rtol=1e-4, atol=1e-7
    )
    affine = _affine_r2(peer.acts, peer.grid)
    np.testing.assert_allclose(peer.run.array("match/affine_r2"), affine, atol=1e-5)


def test_r2_table_is_the_squared_correlation_with_each_candidate(peer: Peer) -> None:
    names = peer.candidate_names
    # 16 boolean functions in 8 complement classes, and 6 reference functions that are
    # affine images of none of them: a ⊖ b, b ⊖ a, T_L, NOR_L, |a − b|, |a + b − 1|.
    assert peer.results["match/candidates"] == len(names) == 8 + 6
    a, b = peer.grid[:, 0], peer.grid[:, 1]
    r2 = peer.run.array("match/r2")
    status = peer.status()
    closed_forms = {**LABELS, "XOR": XOR}
    for c, name in enumerate(names):
        aliases = name.split(" ≡ ")
        if "FALSE" in aliases:
            # Constants explain nothing of a varying neuron, everything of a constant one.
            np.testing.assert_array_equal(r2[:, :, c], (status == "constant").astype(float))
            continue
        # R² is the same for every member of a class (they are affine images of each other).
        f = closed_forms[next(alias for alias in aliases if alias in closed_forms)](a, b)
        np.testing.assert_allclose(r2[:, :, c], _r2(peer.acts, f), atol=1e-5, err_msg=name)


def test_top_candidates_and_summaries_follow_the_r2_table(peer: Peer) -> None:
    r, run = peer.results, peer.run
    r2 = run.array("match/r2")
    top_index, top_r2 = run.array("match/top_index"), run.array("match/top_r2")
    np.testing.assert_array_equal(np.take_along_axis(r2, top_index, axis=2), top_r2)
    assert np.all(np.diff(top_r2, axis=2) <= 0)
    np.testing.assert_array_equal(top_r2[:, :, 0], r2.max(axis=2))
    best = run.array("match/best_r2")
    np.testing.assert_array_equal(best, top_r2[:, :, 0])
    informative = run.array("match/informative").astype(bool)
    used = informative & peer.converged[:, None]
    assert used.any()
    assert r["match/mean_best_r2"] == pytest.approx(best[used].mean(), rel=1e-12)
    assert r["match/matched/fraction"] == pytest.approx((best[used] >= MATCHED_R2).mean())
    counts = np.bincount(top_index[:, :, 0][used], minlength=r2.shape[2])
    np.testing.assert_array_equal(run.array("match/best_candidate_count"), counts)
    assert counts.sum() == used.sum()
    profile = np.where(informative[:, :, None], r2, 0.0).max(axis=1)
    np.testing.assert_array_equal(run.array("match/profile"), profile)


def test_matches_markdown_prints_each_neurons_status_and_best_r2(peer: Peer) -> None:
    text = peer.run.text("matches.md")
    status = peer.status()
    top_r2 = peer.run.array("match/top_r2")
    labels = peer.run.array("strategy/label")
    names = [*peer.run.array_meta("strategy/score")["labels"]["construction"]]
    sections = text.split("\n## seed ")[1:]
    assert len(sections) == peer.config.seeds
    for s, section in enumerate(sections):
        heading = section.splitlines()[0]
        code = int(labels[s])
        expected = {-1: "none", -2: "unconverged"}.get(code) or names[code]
        assert heading == f"{peer.config.seed + s} — {expected}"
        rows = [line for line in section.splitlines() if line.startswith("| L")]
        assert len(rows) == int((status[s] != "constant").sum())
        for line in rows:
            neuron = line.split(" | ")[0].removeprefix("| ")
            layer, unit = (int(v) for v in neuron.removeprefix("L").split("."))
            u = sum(peer.config.widths[: layer - 1]) + unit
            assert line.split(" | ")[1] == status[s, u], line
            assert f"({top_r2[s, u, 0]:.3f})" in line


# --- maximise -------------------------------------------------------------------------------


def test_maximisers_reach_the_closed_form_maximum_of_every_reference_neuron(peer: Peer) -> None:
    r, run = peer.results, peer.run
    labels = run.array_meta("maximise/points")["labels"]["reference"]
    # The distinct functions the reference neurons compute.
    assert r["maximise/reference_neurons"] == len(labels) == len(LABELS)
    assert set(labels) == set(LABELS)
    points = run.array("maximise/points")  # (ref, restart, 2)
    assert points.min() >= 0 and points.max() <= 1
    values = np.stack(
        [LABELS[label](p[:, 0], p[:, 1]) for label, p in zip(labels, points, strict=True)]
    )
    best = values.max(axis=1)
    keep = values >= best[:, None] - peer.config.keep_tol
    np.testing.assert_array_equal(run.array("maximise/keep").astype(bool), keep)
    assert r["maximise/best_activation/min"] == pytest.approx(best.min(), abs=1e-12)
    # Every one of these functions has maximum 1 on the unit square.
    dense = _grid(201)
    assert all(LABELS[k](dense[:, 0], dense[:, 1]).max() == 1.0 for k in LABELS)
    assert 1 - 1e-3 <= r["maximise/best_activation/min"] <= 1 + 1e-12


def _peer_response(peer: Peer) -> FloatArray:
    """z-score of each trained neuron at each reference neuron's kept maximisers."""
    points = peer.run.array("maximise/points")
    keep = peer.run.array("maximise/keep").astype(bool)
    mean = peer.acts.mean(axis=1)  # (seed, n_hidden)
    std = peer.acts.std(axis=1)
    constant = std <= 1e-6 * np.maximum(np.sqrt((peer.acts**2).mean(axis=1)), 1.0)
    out = np.zeros((peer.n_seeds, points.shape[0], peer.n_hidden))
    for i in range(points.shape[0]):
        x = points[i][keep[i]].astype(np.float32).astype(np.float64)  # the lab's float32 model
        h = np.concatenate(_forward(peer.layers, x)[:-1], axis=2)  # (seed, kept, n_hidden)
        z = (h - mean[:, None, :]) / np.where(constant, 1.0, std)[:, None, :]
        out[:, i, :] = np.where(constant, 0.0, z.mean(axis=1))
    return out


def test_responses_are_z_scores_at_the_kept_maximisers(peer: Peer) -> None:
    run = peer.run
    response = run.array("maximise/response")
    np.testing.assert_allclose(response, _peer_response(peer), rtol=1e-4, atol=1e-4)
    matrix = run.array("maximise/response_matrix")
    columns = run.array_meta("maximise/response_matrix")["labels"]["trained"]
    for s in range(peer.n_seeds):
        for u in range(peer.n_hidden):
            column = s * peer.n_hidden + u
            assert columns[column].startswith(f"{peer.config.seed + s}:L")
            np.testing.assert_array_equal(matrix[:, column], response[s, :, u])
    np.testing.assert_array_equal(run.array("maximise/strongest_response"), response.max(2).T)


def test_responding_fraction_and_agreement_follow_the_responses(peer: Peer) -> None:
    run, r = peer.run, peer.results
    response = run.array("maximise/response")
    informative = run.array("match/informative").astype(bool)
    z = peer.config.response_z
    shares = [
        ((response[s] >= z) & informative[s]).sum(axis=1) / informative[s].sum()
        for s in range(peer.n_seeds)
        if informative[s].any()
    ]
    np.testing.assert_allclose(run.array("maximise/responding_fraction"), np.mean(shares, 0))
    # Agreement: neurons whose best candidate (R² ≥ 0.99) is a reference neuron's function
    # respond to its maximisers, their z-score read with the sign of the fit.
    labels = run.array_meta("maximise/response")["labels"]["reference"]
    best, best_r2 = run.array("match/top_index")[:, :, 0], run.array("match/best_r2")
    a, b = peer.grid[:, 0], peer.grid[:, 1]
    hits = []
    for s, u in zip(*np.nonzero(informative & (best_r2 >= MATCHED_R2)), strict=True):
        aliases = peer.candidate_names[best[s, u]].split(" ≡ ")
        rows = [labels.index(name) for name in aliases if name in labels]
        if rows:
            sign = np.sign(np.corrcoef(peer.acts[s, :, u], LABELS[labels[rows[0]]](a, b))[0, 1])
            hits.append(sign * response[s, rows[0], u] >= z)
    expected = np.mean(hits) if hits else math.nan
    assert r["maximise/agreement"] == pytest.approx(expected, nan_ok=True)


# --- strategies -----------------------------------------------------------------------------


def _signatures(grid: FloatArray) -> dict[str, list[str]]:
    """Each construction's distinct non-affine neuron labels (affine by a numpy fit)."""
    out = {}
    for net in reference_networks():
        labels = list(dict.fromkeys(n.label for n in net.hidden_neurons))
        values = np.stack([LABELS[k](grid[:, 0], grid[:, 1]) for k in labels], axis=1)
        linear = _affine_r2(values[None], grid)[0]
        out[net.name] = [k for k, r2 in zip(labels, linear, strict=True) if r2 < 1 - 1e-9]
    return out


def _best_assignment(r2: FloatArray) -> float:
    """Largest Σ_i r2[u_i, i] over one-to-one maps i -> u_i of functions (columns) to
    neurons (rows), by trying them all; a function may get no neuron (it scores 0)."""
    n_sig = r2.shape[1]
    padded = np.vstack([r2, np.zeros((n_sig, n_sig))])  # one "no neuron" row per function
    perms = np.array(list(itertools.permutations(range(len(padded)), n_sig)))
    return float(padded[perms, np.arange(n_sig)].sum(axis=1).max())


def test_coverage_and_purity_by_brute_force_over_assignments(peer: Peer) -> None:
    run = peer.run
    names = run.array_meta("strategy/score")["labels"]["construction"]
    signatures = _signatures(peer.grid)
    assert list(signatures) == names
    informative = run.array("match/informative").astype(bool)
    a, b = peer.grid[:, 0], peer.grid[:, 1]
    coverage, purity = run.array("strategy/coverage"), run.array("strategy/purity")
    seeds = range(peer.n_seeds) if peer.kind == "tiny" else range(3)  # brute force is slow
    for c, name in enumerate(names):
        r2_all = np.stack([_r2(peer.acts, LABELS[k](a, b)) for k in signatures[name]], axis=2)
        for s in seeds:
            r2 = r2_all[s][informative[s]]  # (informative neurons, functions)
            # Coverage: the best one-to-one assignment of functions to informative neurons.
            best = _best_assignment(r2) / r2.shape[1]
            assert coverage[s, c] == pytest.approx(best, abs=1e-5), (name, s)
            # Purity: each informative neuron's best function, averaged.
            p = r2.max(axis=1).mean() if len(r2) else 0.0
            assert purity[s, c] == pytest.approx(p, abs=1e-5), (name, s)


def test_scores_labels_and_counts_follow_from_coverage_and_purity(peer: Peer) -> None:
    run, r = peer.run, peer.results
    names = run.array_meta("strategy/score")["labels"]["construction"]
    cov, pur, score = (run.array(f"strategy/{k}") for k in ("coverage", "purity", "score"))
    total = cov + pur
    harmonic = np.divide(2 * cov * pur, total, out=np.zeros_like(total), where=total > 0)
    np.testing.assert_allclose(score, harmonic, rtol=1e-12, atol=1e-15)
    labels = run.array("strategy/label")
    for s in range(peer.n_seeds):
        if not peer.converged[s]:
            assert labels[s] == -2
        elif score[s].max() >= peer.config.fit_threshold:
            assert labels[s] == score[s].argmax() and score[s, labels[s]] == score[s].max()
        else:
            assert labels[s] == -1
    counts = {name: int((labels == i).sum()) for i, name in enumerate(names)}
    counts |= {"none": int((labels == -1).sum()), "unconverged": int((labels == -2).sum())}
    for name, count in counts.items():
        assert r[f"strategy/{name}/count"] == count, name
    assert sum(r[f"strategy/{n}/count"] for n in counts) == peer.config.seeds
    assert r["strategy/unconverged/count"] == peer.config.seeds - r["train/converged/count"]
    assert r["strategy/distinct"] == sum(1 for n in names if counts[n] > 0)
    found = {k: v for k, v in counts.items() if k != "unconverged"}
    assert counts[r["strategy/most_common"]] == max(found.values())
    best = score.max(axis=1)[peer.converged]
    assert r["strategy/score/median"] == pytest.approx(np.median(best), rel=1e-12)


def _check_average_linkage_cut(profile: FloatArray, clusters: np.ndarray, t: float) -> None:  # type: ignore[type-arg]
    """Average linkage merges the two clusters with the smallest mean pairwise distance
    and never inverts, so after the cut at t every cluster's mean within-distance is ≤ t
    and every two clusters' mean cross-distance is > t (RMS distance of profiles);
    ids 1, 2, ... are ordered by size."""
    members = [np.flatnonzero(clusters == k) for k in range(1, int(clusters.max()) + 1)]
    assert [len(m) for m in members] == sorted((len(m) for m in members), reverse=True)

    def distance(i: int, j: int) -> float:
        return float(np.sqrt(((profile[i] - profile[j]) ** 2).mean()))

    for group in members:
        pairs = list(itertools.combinations(group, 2))
        if pairs:
            assert np.mean([distance(i, j) for i, j in pairs]) <= t + 1e-12
    for g, h in itertools.combinations(members, 2):
        assert np.mean([distance(i, j) for i in g for j in h]) > t


def test_clustering_is_average_linkage_neither_single_nor_complete() -> None:
    """Profiles on a line 0.08 apart: single linkage would chain them all into one cluster,
    average linkage cut at 0.1 must not (its mean within-distance would exceed 0.1). Three
    profiles at 0, 0.05 and 0.12: their mean pairwise distance is 0.08, so average linkage
    makes one cluster where complete linkage (largest distance 0.12) would make two."""
    profiles = np.outer(np.arange(8) * 0.08, np.ones(4))
    clusters = cluster_profiles(profiles, np.ones(8, dtype=bool), max_distance=0.1)
    assert clusters.max() > 1
    _check_average_linkage_cut(profiles, clusters, 0.1)
    profiles = np.outer([0.0, 0.05, 0.12], np.ones(4))
    clusters = cluster_profiles(profiles, np.ones(3, dtype=bool), max_distance=0.1)
    assert clusters.tolist() == [1, 1, 1]


def test_classification_threshold_is_inclusive() -> None:
    """A network scoring exactly fit_threshold follows the construction; just below, none."""
    score = np.array([[0.2, 0.9], [0.9 - 1e-9, 0.1], [0.95, 0.97]])
    scores = StrategyScores(("x", "y"), score, score, score, (np.zeros((3, 1), np.int64),) * 2)
    codes = classify_strategies(scores, np.array([True, True, False]), threshold=0.9)
    assert codes.tolist() == [1, -1, -2]


def test_clusters_are_what_average_linkage_cut_at_the_threshold_gives(peer: Peer) -> None:
    run, r = peer.run, peer.results
    profile = run.array("match/profile")
    clusters = run.array("strategy/cluster")
    np.testing.assert_array_equal(clusters == 0, ~peer.converged)
    n = int(clusters.max())
    assert r["strategy/clusters"] == n
    _check_average_linkage_cut(profile, clusters, peer.config.cluster_distance)
    members = [np.flatnonzero(clusters == k) for k in range(1, n + 1)]
    # The cross table, its agreement and the cluster profiles.
    names = [*run.array_meta("strategy/score")["labels"]["construction"], "none"]
    labels = run.array("strategy/label")
    cross = np.zeros((n, len(names)), dtype=int)
    for cluster, code in zip(clusters, labels, strict=True):
        if cluster:
            cross[cluster - 1, code if code >= 0 else len(names) - 1] += 1
    np.testing.assert_array_equal(run.array("strategy/cluster_by_strategy"), cross)
    assert r["strategy/cluster_agreement"] == pytest.approx(cross.max(1).sum() / cross.sum())
    means = np.stack([profile[m].mean(axis=0) for m in members])
    np.testing.assert_allclose(run.array("strategy/cluster_profile"), means, rtol=1e-12)


def test_summary_prints_the_reported_counts(peer: Peer) -> None:
    r, text = peer.results, peer.run.text("summary.md")
    converged = r["train/converged/count"]
    widths = ", ".join(str(w) for w in peer.config.widths)
    assert (
        f"{peer.config.seeds} ReLU networks with hidden widths [{widths}] were trained for "
        f"{peer.config.steps} steps; **{converged}** learned XOR and "
        f"{r['strategy/unconverged/count']} did not." in text
    )
    names = peer.run.array_meta("strategy/score")["labels"]["construction"]
    for name in [*names, "none"]:
        count = r[f"strategy/{name}/count"]
        if count or name == "none":
            assert f"| {name} | {count} | {count / converged:.0%} |" in text, name
    cross = peer.run.array("strategy/cluster_by_strategy")
    columns = [*names, "none"]
    for k, row in enumerate(cross, 1):
        assert f"| {k} | {row.sum()} | {columns[int(row.argmax())]} |" in text


# --- bugs found by this audit ---------------------------------------------------------------


def test_responding_fraction_leaves_out_networks_without_informative_neurons_bug() -> None:
    """Bug: a network with no informative neuron (e.g. one collapsed to a constant) counted
    as a share of 0, pulling maximise/responding_fraction down. It has no share at all."""
    response = torch.tensor([[[2.0, 0.0, 3.0]], [[5.0, 5.0, 5.0]]], dtype=torch.float64)
    informative = torch.tensor([[True, True, False], [False, False, False]])
    got = responding_fraction(response, informative, response_z=1.0)
    assert got.tolist() == [0.5]  # network 0: 1 of its 2 informative neurons; network 1: none
    nothing = responding_fraction(response, torch.zeros(2, 3, dtype=torch.bool), response_z=1.0)
    assert math.isnan(float(nothing[0]))


def test_agreement_reads_a_mirror_image_match_by_its_sign_bug() -> None:
    """Bug: R² cannot tell a function from its mirror image (AND = 1 − NAND), so a neuron
    computing AND is matched to reference NAND; NAND's maximisers are where AND is lowest,
    so the neuron's z-score there is negative and maximise/agreement counted it as a
    disagreement. Read with the sign of the fit, it agrees."""
    grid = _grid(21)
    a, b = grid[:, 0], grid[:, 1]
    # A two-layer network: layer 1 has a and a ⊖ b, layer 2 computes relu(a − (a ⊖ b)) =
    # min(a, b) = AND and relu(1 − a + (a ⊖ b)) = NAND.
    weights = [
        torch.tensor([[[1.0, 0.0], [1.0, -1.0]]], dtype=torch.float64),
        torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]], dtype=torch.float64),
        torch.tensor([[[1.0, 1.0]]], dtype=torch.float64),
    ]
    biases = [
        torch.zeros(1, 2, dtype=torch.float64),
        torch.tensor([[0.0, 1.0]], dtype=torch.float64),
        torch.zeros(1, 1, dtype=torch.float64),
    ]
    model = EnsembleMLP.from_layers(weights, biases, "relu", [0])
    with torch.no_grad():
        layer2 = model.layers[1]
        h1 = torch.relu(torch.from_numpy(grid) @ weights[0][0].T)
        h2 = torch.relu(h1 @ layer2.weight[0].T + layer2.bias[0])
    np.testing.assert_allclose(h2[:, 0].numpy(), np.minimum(a, b), atol=1e-12)  # AND
    np.testing.assert_allclose(h2[:, 1].numpy(), 1 - np.minimum(a, b), atol=1e-12)  # NAND
    acts = h2.unsqueeze(0)  # (seed, n_points, 2)
    nand = torch.from_numpy(LABELS["NAND"](a, b)).unsqueeze(0)  # (n_ref = 1, n_points)
    # NAND is maximal (1) on the edges a = 0 or b = 0: there AND is 0, its minimum.
    at_max = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)  # (AND, NAND) there
    mean, std = acts[0].mean(0), acts[0].std(0, unbiased=False)
    response = ((at_max.mean(0) - mean) / std).view(1, 1, 2)  # (seed, n_ref, n_units)
    assert float(response[0, 0, 0]) < -1.0 < 1.0 < float(response[0, 0, 1])
    matched = torch.tensor([[0, 0]])  # both neurons matched to reference row 0 (NAND)
    assert maximiser_agreement(response, acts, nand, matched, response_z=1.0) == 1.0
    unmatched = torch.full((1, 2), -1)
    assert math.isnan(maximiser_agreement(response, acts, nand, unmatched, response_z=1.0))
