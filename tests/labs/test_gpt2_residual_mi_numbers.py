"""Every number the gpt2-residual-mi lab shows, re-derived by a peer path.

A tiny run (2 blocks, d_model 16) is made, and each ``[results]`` key and saved array
is recomputed without the lab's streaming, hooks or measures:

* activations come from a from-scratch float64 GPT-2 forward written here from the
  weights (layer norm, causal attention, GELU MLP), not from ``transformers``;
* MI from numpy's ``slogdet`` of ``np.cov`` with the Wishart digamma bias written out;
* jackknife intervals from the leave-one-group-out MIs and scipy's t quantile;
* spectra from ``np.linalg.eigvalsh``, their measures from their formulas;
* Jacobian singular values from ``torch.autograd.functional.jacobian`` of the peer
  forward and numpy's SVD.

The trained model is a random-init model whose every parameter (biases and layer-norm
gains included) is then jittered, so the peer forward is checked on non-trivial biases.

The checks that need only a run folder (counts, verdicts, curves, spectrum and Jacobian
summaries against their formulas, the summary's numbers) also run on the shipped sample
run (``sample_projects/default``), so a sample made by stale or broken code fails here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy import stats
from scipy.special import digamma

from workbench.core.inference import VERDICT_WORDS
from workbench.core.models.gpt2 import gpt2_config, random_twin, residual_hook_names
from workbench.core.runner import run_lab
from workbench.core.runs import Project, Run, init_project
from workbench.core.samples import sample_project_source
from workbench_labs.gpt2_residual_mi import LAB
from workbench_labs.gpt2_residual_mi.config import OFFLINE_DEFAULT
from workbench_labs.gpt2_residual_mi.corpus import ByteTokenizer, make_source
from workbench_labs.gpt2_residual_mi.make_checkpoint import CHECKPOINT_DIR
from workbench_labs.gpt2_residual_mi.steps import PARTNER_OFFSET
from workbench_labs.gpt2_residual_mi.stream import batch_sizes, token_batches

N_LAYER, D, N_HEAD, N_CTX = 2, 16, 2, 32
NAMES = residual_hook_names(N_LAYER)
LN2 = math.log(2.0)

#: 70 sequences in batches of 16 with 4 jackknife groups: 4 full batches and a last one cut
#: to 4 sequences (70 mod 16 = 6 -> 4), so 68 sequences and 272 tokens are used.
CONFIG: dict[str, Any] = {
    "n_sequences": 70,
    "batch_size": 16,
    "n_groups": 4,
    "n_permutations": 9,
    "seq_len": 24,
    "first_position": 4,
    "positions_per_sequence": 4,
    "twin_seed": 5,
    "twin_seeds": 1,
    "corpus_seed": 2,
    "jacobian_sequences": 2,
    "jacobian_offsets": [0, 1, 3],
}
USED_SEQUENCES = 68
N_TOKENS = USED_SEQUENCES * CONFIG["positions_per_sequence"]


# --- a peer GPT-2 forward, float64, from the weights alone ----------------------------------


def _weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float64 copies keyed without the ``transformer.`` prefix."""
    return {
        k.removeprefix("transformer."): v.detach().to(torch.float64)
        for k, v in state.items()
        if k.startswith("transformer.")
    }


def _layer_norm(x: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased, as nn.LayerNorm
    return (x - mean) / torch.sqrt(var + 1e-5) * gain + bias


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's ``gelu_new``: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _peer_blocks(w: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Residual stream of every hook point from ``resid_pre0`` ``x: (batch, seq, d)``."""
    batch, seq, d = x.shape
    hd = d // N_HEAD
    causal = torch.ones(seq, seq, dtype=torch.bool).tril()
    out: dict[str, torch.Tensor] = {}
    for i in range(N_LAYER):
        p = f"h.{i}."
        out[f"blocks.{i}.hook_resid_pre"] = x
        h = _layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # (B, T, 3d)
        q, k, v = (t.reshape(batch, seq, N_HEAD, hd).transpose(1, 2) for t in qkv.split(d, -1))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)  # (B, H, T, T)
        scores = scores.masked_fill(~causal, float("-inf"))
        heads = torch.softmax(scores, dim=-1) @ v  # (B, H, T, hd)
        merged = heads.transpose(1, 2).reshape(batch, seq, d)
        x = x + merged @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        out[f"blocks.{i}.hook_resid_mid"] = x
        h = _layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        h = _gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    out[f"blocks.{N_LAYER - 1}.hook_resid_post"] = x
    return out


def _peer_embed(w: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    return w["wte.weight"][ids] + w["wpe.weight"][: ids.shape[-1]]


# --- peer estimators ------------------------------------------------------------------------


def _log_det_bias(d: int, n: int) -> float:
    """E ln|S| - ln|Σ| for a Gaussian sample covariance: Σ_i ψ((n - i)/2) + d ln(2/(n - 1))."""
    i = np.arange(1, d + 1)
    return float(digamma((n - i) / 2).sum() + d * math.log(2 / (n - 1)))


def _peer_mi(x: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> tuple[float, float]:
    """(plug-in, bias-corrected) Gaussian MI in bits from numpy's covariance and slogdet."""
    n, dx = x.shape
    dy = y.shape[1]
    cov = np.cov(np.hstack([x, y]), rowvar=False)
    cov = cov + ridge * np.diag(np.diag(cov))

    def logdet(m: np.ndarray) -> float:
        sign, value = np.linalg.slogdet(m)
        assert sign > 0
        return float(value)

    plugin = 0.5 * (logdet(cov[:dx, :dx]) + logdet(cov[dx:, dx:]) - logdet(cov)) / LN2
    bias = 0.5 * (_log_det_bias(dx, n) + _log_det_bias(dy, n) - _log_det_bias(dx + dy, n)) / LN2
    return plugin, plugin - bias


def _peer_interval(
    x: np.ndarray, y: np.ndarray, sequence: np.ndarray, n_groups: int, level: float, ridge: float
) -> tuple[float, float]:
    """Delete-a-group jackknife (rows of sequences s with s mod G == g left out), t interval
    on G - 1 df; ``sequence`` is each row's sequence index."""
    theta = _peer_mi(x, y, ridge)[1]
    group = sequence % n_groups
    leave = np.array([_peer_mi(x[group != g], y[group != g], ridge)[1] for g in range(n_groups)])
    se = math.sqrt((n_groups - 1) / n_groups * np.sum((leave - leave.mean()) ** 2))
    centre = theta - (n_groups - 1) * (leave.mean() - theta)
    half = stats.t.ppf((1 + level) / 2, n_groups - 1) * se
    return centre - half, centre + half


# --- the run and its peer activations -------------------------------------------------------


class Peer:
    """The run, and the same numbers recomputed in memory."""

    def __init__(self, run: Run, folder: Path) -> None:
        self.run = run
        self.results = run.results
        config = LAB.make_config({"model": str(folder), **CONFIG})
        self.config = config
        self.weights = {
            "trained": _weights(load_file(str(folder / "model.safetensors"))),
            "twin": _weights(
                random_twin(
                    gpt2_config(n_layer=N_LAYER, n_embd=D, n_head=N_HEAD, n_ctx=N_CTX),
                    seed=config.twin_seed,
                ).state_dict()
            ),
            "partner": _weights(
                random_twin(
                    gpt2_config(n_layer=N_LAYER, n_embd=D, n_head=N_HEAD, n_ctx=N_CTX),
                    seed=config.twin_seed + PARTNER_OFFSET,
                ).state_dict()
            ),
        }
        # The token batches the lab streamed; rows position-major within each batch.
        source = make_source(config.corpus, config.corpus_seed, config.seq_len, ByteTokenizer())
        self.source = source
        rows: dict[str, dict[str, list[np.ndarray]]] = {
            m: {n: [] for n in NAMES} for m in self.weights
        }
        batches = token_batches(
            source,
            batch_sizes(config.n_sequences, config.batch_size, config.n_groups),
            seq_len=config.seq_len,
            first_position=config.first_position,
            positions_per_sequence=config.positions_per_sequence,
            seed=config.corpus_seed,
        )
        sequences: list[np.ndarray] = []
        first = 0
        for batch in batches:
            size, n_pos = batch.positions.shape
            index = torch.arange(size)[:, None]
            sequences.append(np.tile(first + np.arange(size), n_pos))  # position-major rows
            first += size
            for model, w in self.weights.items():
                with torch.no_grad():
                    stream = _peer_blocks(w, _peer_embed(w, batch.input_ids))
                for name, acts in stream.items():
                    picked = acts[index, batch.positions]  # (batch, n_pos, d)
                    rows[model][name].append(picked.transpose(0, 1).reshape(-1, D).numpy())
        self.acts = {m: {n: np.concatenate(v) for n, v in r.items()} for m, r in rows.items()}
        self.sequence = np.concatenate(sequences)  # each row's sequence index


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Peer:
    folder = tmp_path_factory.mktemp("gpt2-numbers") / "model"
    model = random_twin(gpt2_config(n_layer=N_LAYER, n_embd=D, n_head=N_HEAD, n_ctx=N_CTX), seed=9)
    gen = torch.Generator().manual_seed(10)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=gen))
    model.save_pretrained(folder, safe_serialization=True)
    project = init_project(tmp_path_factory.mktemp("gpt2-numbers-project") / "proj")
    run = run_lab(LAB, LAB.make_config({"model": str(folder), **CONFIG}), project, device="cpu")
    assert run.status == "completed"
    return Peer(run, folder)


class Case:
    """A run folder and what it was made with, for the checks that need nothing else."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.results = run.results
        self.config = LAB.make_config(run.config)
        self.names = residual_hook_names(self.results["model/n_layer"])
        self.d = int(self.results["model/d_model"])
        folder = CHECKPOINT_DIR if self.config.model == OFFLINE_DEFAULT else Path(self.config.model)
        self.model_config = json.loads((folder / "config.json").read_text())


@pytest.fixture(scope="module", params=["tiny", "sample"])
def case(request: pytest.FixtureRequest) -> Case:
    if request.param == "tiny":
        return Case(request.getfixturevalue("peer").run)
    (run,) = [r for r in Project(sample_project_source()).runs() if r.lab == LAB.name]
    return Case(run)


def _close(got: float, expected: float, what: str, rel: float = 1e-4, abs_: float = 1e-4) -> None:
    assert got == pytest.approx(expected, rel=rel, abs=abs_), what


# --- model and data -------------------------------------------------------------------------


def test_model_numbers_are_the_config_and_gpt2_parameter_count(case: Case) -> None:
    r, m = case.results, case.model_config
    assert r["model/n_layer"] == m["n_layer"] and r["model/d_model"] == m["n_embd"]
    assert r["model/hook_points"] == 2 * m["n_layer"] + 1
    # GPT-2: embeddings V d + n_ctx d; per block 2 layer norms (4d), qkv (3d² + 3d),
    # attention out (d² + d), MLP (4d² + 4d and 4d² + d): 12 d² + 13 d; final layer norm 2d.
    # The LM head is tied to the token embedding, so it adds nothing.
    d, n_layer = m["n_embd"], m["n_layer"]
    expected = (m["vocab_size"] + m["n_positions"]) * d + n_layer * (12 * d * d + 13 * d) + 2 * d
    assert r["model/parameters"] == expected


def test_data_counts_follow_the_whole_sequence_rule(case: Case) -> None:
    """Full batches of B sequences, then the rest cut to a multiple of the G jackknife groups:
    ⌊n/B⌋·B + ⌊(n mod B)/G⌋·G sequences."""
    r, c = case.results, case.config
    used = c.n_sequences // c.batch_size * c.batch_size
    used += c.n_sequences % c.batch_size // c.n_groups * c.n_groups
    assert r["data/n_sequences"] == used
    assert r["data/n_tokens"] == used * c.positions_per_sequence
    assert r["data/positions_per_sequence"] == c.positions_per_sequence
    assert r["data/seq_len"] == c.seq_len
    assert r["data/tokens_per_second"] > 0


def test_tiny_run_streams_the_tokens_it_reports(peer: Peer) -> None:
    assert peer.results["data/n_sequences"] == USED_SEQUENCES  # 70 -> 64 + 4
    assert peer.results["data/n_tokens"] == N_TOKENS == peer.acts["trained"][NAMES[0]].shape[0]


def test_peer_forward_reads_the_same_hooks_as_the_lab(peer: Peer) -> None:
    """The from-scratch forward agrees with transformers at every hook point, so the peer
    numbers below are computed on the streams the lab measured."""
    from workbench.core.models.gpt2 import load_pretrained, residual_stream

    model = load_pretrained(Path(peer.config.model), "cpu")
    ids = torch.from_numpy(np.stack([peer.source.sequence(i) for i in range(3)]))
    ours = _peer_blocks(peer.weights["trained"], _peer_embed(peer.weights["trained"], ids))
    theirs = residual_stream(model, ids)
    for name in NAMES:
        torch.testing.assert_close(theirs[name].double(), ours[name], rtol=1e-4, atol=1e-5)


# --- MI per hook point ----------------------------------------------------------------------


def test_mi_estimates_equal_numpy_log_determinants_of_the_streams(peer: Peer) -> None:
    r = peer.results
    for name in NAMES:
        ridge = r[f"mi/{name}/ridge"]
        plugin, corrected = _peer_mi(peer.acts["trained"][name], peer.acts["twin"][name], ridge)
        _close(r[f"mi/{name}/plugin"], plugin, name)
        _close(r[f"mi/{name}"], corrected, name)


def test_twin_twin_baseline_is_the_mi_of_the_partner_init_with_the_twin(peer: Peer) -> None:
    r = peer.results
    for name in NAMES:
        if r[f"mi/{name}/flag/ridge_set"]:
            continue
        _, corrected = _peer_mi(peer.acts["partner"][name], peer.acts["twin"][name])
        _close(r[f"mi/{name}/twin_twin"], corrected, name)
        _close(r[f"mi/{name}/difference"], r[f"mi/{name}"] - corrected, name)


def test_condition_and_noise_sweep_equal_numpy(peer: Peer) -> None:
    """κ of the joint correlation matrix from numpy's eigvalsh; the noise sweep is the MI
    of numpy's covariance plus f² diag (noise at f of each SD adds exactly that)."""
    r, c = peer.results, peer.config
    noise = peer.run.array("mi/noise")
    for h, name in enumerate(NAMES):
        x, y = peer.acts["trained"][name], peer.acts["twin"][name]
        mu = np.linalg.eigvalsh(np.corrcoef(np.hstack([x, y]), rowvar=False))
        if mu[0] > 0:
            _close(r[f"mi/{name}/condition"], mu[-1] / mu[0], name, rel=1e-3)
        for i, f in enumerate(c.noise_fractions, start=1):
            _close(noise[i, h], _peer_mi(x, y, ridge=f * f)[1], f"{name} at {f}")


def test_mi_intervals_are_the_jackknife_over_whole_sequence_groups(peer: Peer) -> None:
    """With one twin the interval over twins and tokens is the token jackknife; a ridge-set
    hook has none."""
    r = peer.results
    for name in NAMES:
        if r[f"mi/{name}/flag/ridge_set"]:
            assert math.isnan(r[f"mi/{name}/low"]) and math.isnan(r[f"mi/{name}/high"])
            continue
        low, high = _peer_interval(
            peer.acts["trained"][name],
            peer.acts["twin"][name],
            peer.sequence,
            CONFIG["n_groups"],
            peer.config.level,
            r[f"mi/{name}/ridge"],
        )
        _close(r[f"mi/{name}/low"], low, name, rel=1e-3, abs_=1e-3)
        _close(r[f"mi/{name}/high"], high, name, rel=1e-3, abs_=1e-3)


def test_null_mean_is_the_plugin_bias_of_independent_streams(case: Case) -> None:
    """Shuffled pairs are independent with the streams' marginals: the plug-in MI's mean
    over them is the plug-in bias, ½[b(d) + b(d) - b(2d)]/ln 2 bits for Gaussian data."""
    r = case.results
    n, k, d = r["data/n_tokens"], case.config.n_permutations, case.d
    expected = 0.5 * (2 * _log_det_bias(d, n) - _log_det_bias(2 * d, n)) / LN2
    for name in case.names:
        if r[f"mi/{name}/ridge"] > 0:
            continue  # a singular stream: the null's dimension is its rank, not d
        assert r[f"mi/{name}/null_mean"] == pytest.approx(expected, rel=0.25), name
        # The correction the first twin's estimate applies is that same bias.
        first_twin = case.run.array("mi/per_twin")[0, case.names.index(name)]
        shift = r[f"mi/{name}/plugin"] - first_twin
        assert shift == pytest.approx(expected, rel=1e-9), name
        # A permutation p-value (1 + #{null >= observed}) / (1 + K).
        p = r[f"mi/{name}/p_value"]
        assert round(p * (k + 1)) == pytest.approx(p * (k + 1), abs=1e-9)
        assert 1 / (k + 1) - 1e-12 <= p <= 1.0


def test_verdicts_and_counts_follow_the_estimates(case: Case) -> None:
    """Ridge-set hooks count nowhere: not above zero, not above the bias, not in a family,
    not in the headline."""
    r, names = case.results, case.names
    level = case.config.level
    regular = [n for n in names if not r[f"mi/{n}/flag/ridge_set"]]
    for name in names:
        ridge_set = r[f"mi/{name}/flag/ridge_set"]
        assert r[f"mi/{name}/above_zero"] == (not ridge_set and r[f"mi/{name}/low"] > 0), name
        above = not ridge_set and r[f"mi/{name}/p_value"] <= 1 - level + 1e-12
        assert r[f"mi/{name}/above_bias"] == above, name
        assert r[f"mi/{name}/ridge"] == 0 or r[f"mi/{name}/ridge"] >= 1e-8
        assert (f"family/above_zero/{name}/p" in r) == (not ridge_set), name
        if r[f"mi/{name}/ridge"] > 0:
            assert ridge_set
    assert r["mi/hooks_regular"] == len(regular)
    assert r["mi/hooks_above_zero"] == sum(bool(r[f"mi/{n}/above_zero"]) for n in names)
    assert r["mi/hooks_above_bias"] == sum(bool(r[f"mi/{n}/above_bias"]) for n in names)
    assert r["family/above_zero/family_size"] == len(regular)
    assert r["mi/first_hook"] == r[f"mi/{regular[0]}"]
    assert r["mi/first_hook/name"] == regular[0]
    assert r["mi/last_hook"] == r[f"mi/{regular[-1]}"]
    assert f"{r['mi/last_hook']:.2f} bits at {regular[-1]}" in r["mi/headline"]
    for flag in ("ridge_set", "near_singular", "noise_fragile", "above_ceiling"):
        assert r[f"mi/hooks_flagged/{flag}"] == sum(bool(r[f"mi/{n}/flag/{flag}"]) for n in names)
    for key in ("above_zero", "above_baseline"):
        assert r[f"verdict/{key}/verdict"] in VERDICT_WORDS


def test_flags_follow_their_thresholds(case: Case) -> None:
    r, c = case.results, case.config
    for name in case.names:
        if r[f"mi/{name}/flag/ridge_set"]:
            assert not any(r[f"mi/{name}/flag/{f}"] for f in ("near_singular", "noise_fragile"))
            continue
        assert r[f"mi/{name}/flag/near_singular"] == (
            r[f"mi/{name}/condition"] > c.condition_threshold
        )
        assert r[f"mi/{name}/flag/noise_fragile"] == (
            r[f"mi/{name}/noise_move"] > c.noise_flag_move
        )
        assert r[f"mi/{name}/flag/above_ceiling"] == (r[f"mi/{name}"] > r["ceiling/high"])
        h = case.names.index(name)
        noise = case.run.array("mi/noise")
        judged = noise[1 + list(c.noise_fractions).index(c.noise_flag_fraction), h]
        first_twin = case.run.array("mi/per_twin")[0, h]
        _close(r[f"mi/{name}/noise_move"], abs(judged - first_twin) / abs(first_twin), name, 1e-9)


def test_by_hook_array_holds_the_reported_numbers(case: Case) -> None:
    r = case.results
    by_hook = case.run.array("mi/by_hook")
    hook_labels = case.run.array_meta("mi/by_hook")["labels"]["hook"]
    assert [label.split(" [")[0] for label in hook_labels] == list(case.names)
    for column, name in enumerate(case.names):
        # Flags show in the label, so a heatmap or curve of this array shows them too.
        assert (" [" in hook_labels[column]) == (r[f"mi/{name}/flags"] != "none")
        expected = [
            r[f"mi/{name}"],
            r[f"mi/{name}/low"],
            r[f"mi/{name}/high"],
            r[f"mi/{name}/plugin"],
            r[f"mi/{name}/null_mean"],
            r[f"mi/{name}/twin_twin"],
            r["ceiling/high"],
            r.get(f"mi/{name}/copula", math.nan),
        ]
        np.testing.assert_allclose(by_hook[:, column], expected, rtol=1e-12)


def test_curve_ends_at_the_reported_estimate_and_extrapolates_in_one_over_n(
    case: Case,
) -> None:
    r, c = case.results, case.config
    n_tokens = case.run.array("curve/n_tokens")
    assert np.all(np.diff(n_tokens) > 0) and n_tokens[-1] == r["data/n_tokens"]
    # Points sit at batch boundaries, above the fewest tokens the jackknife allows:
    # more than the joint dimension 2d with one of the G groups left out.
    assert np.all(n_tokens % c.positions_per_sequence == 0)
    assert n_tokens[0] >= math.ceil((2 * case.d + 2) * c.n_groups / (c.n_groups - 1))
    for name in case.names:
        curve = case.run.array(f"curve/{name}")
        assert curve.shape == (6, n_tokens.size)
        # The last column is the reported estimate; the null's 95% quantile is above its
        # mean (with K = 9 or 19 shuffles it lies between the two largest of them).
        final = [r[f"mi/{name}/{k}"] for k in ("plugin", "null_mean")]
        np.testing.assert_allclose(curve[[0, 4], -1], final, rtol=1e-12)
        assert curve[1, -1] == case.run.array("mi/per_twin")[0, case.names.index(name)]
        if not r[f"mi/{name}/flag/ridge_set"]:
            low, high = r[f"mi/{name}/token_low"], r[f"mi/{name}/token_high"]
            np.testing.assert_allclose(curve[[2, 3], -1], [low, high], rtol=1e-12)
        assert np.all(curve[5] >= curve[4] - 1e-12)
        # The extrapolation is the intercept of the least-squares line in 1/n.
        design = np.stack([np.ones(n_tokens.size), 1.0 / n_tokens], axis=1)
        intercept = np.linalg.lstsq(design, curve[0], rcond=None)[0][0]
        _close(r[f"mi/{name}/plugin_extrapolated"], intercept, name, rel=1e-8, abs_=1e-8)


def test_curve_points_are_the_estimates_on_the_first_n_tokens(peer: Peer) -> None:
    n_tokens = peer.run.array("curve/n_tokens")
    boundaries = set(np.cumsum([s * 4 for s in batch_sizes(70, 16, 4)]).tolist())
    assert set(n_tokens.tolist()) <= boundaries and n_tokens.size >= 3
    r = peer.results
    for name in NAMES:
        curve = peer.run.array(f"curve/{name}")
        ridge = r[f"mi/{name}/ridge"]
        for column, n in enumerate(n_tokens):
            x, y = peer.acts["trained"][name][:n], peer.acts["twin"][name][:n]
            if ridge == 0:  # a curve point's own ridge is not saved; the final one is
                plugin, corrected = _peer_mi(x, y)
                _close(curve[0, column], plugin, f"{name} at {n}")
                _close(curve[1, column], corrected, f"{name} at {n}")
                low, high = _peer_interval(
                    x, y, peer.sequence[:n], CONFIG["n_groups"], peer.config.level, 0.0
                )
                _close(curve[2, column], low, f"{name} at {n}", rel=1e-3, abs_=1e-3)
                _close(curve[3, column], high, f"{name} at {n}", rel=1e-3, abs_=1e-3)


# --- layer x layer, spectra, Jacobians ------------------------------------------------------


def test_layer_matrices_equal_numpy_mi_between_hook_streams(peer: Peer) -> None:
    acts = peer.acts
    for key, (rows, cols) in {
        "trained": ("trained", "trained"),
        "twin": ("twin", "twin"),
        "cross": ("trained", "twin"),
    }.items():
        matrix = peer.run.array(f"layers/mi_{key}")
        assert matrix.shape == (len(NAMES), len(NAMES))
        for a, name_a in enumerate(NAMES):
            for b, name_b in enumerate(NAMES):
                if key != "cross" and a == b:
                    assert np.isnan(matrix[a, b])
                    continue
                if np.isnan(matrix[a, b]):  # singular: the lab leaves it out
                    continue
                expected = _peer_mi(acts[rows][name_a], acts[cols][name_b])[1]
                _close(matrix[a, b], expected, f"{key} {name_a} x {name_b}")


def test_layer_matrices_are_symmetric_and_agree_with_the_per_hook_mi(case: Case) -> None:
    if "layers/mi_cross" not in case.run.array_names():
        assert not case.config.layer_matrix
        return
    r = case.results
    for key in ("trained", "twin"):
        matrix = case.run.array(f"layers/mi_{key}")
        assert np.all(np.isnan(np.diag(matrix)))
        np.testing.assert_array_equal(matrix, matrix.T)
    # The cross diagonal pairs hook h of the trained model and the first twin, as that
    # twin's pass does from its own accumulator; a singular cell is NaN (set by a ridge).
    cross = case.run.array("layers/mi_cross")
    first_twin = case.run.array("mi/per_twin")[0]
    for h, name in enumerate(case.names):
        if r[f"mi/{name}/ridge"] == 0:
            _close(cross[h, h], first_twin[h], name, rel=1e-6, abs_=1e-6)
        else:
            assert math.isnan(cross[h, h]), name


def test_spectra_are_the_eigenvalues_of_each_streams_covariance(peer: Peer) -> None:
    for model in ("trained", "twin"):
        for name in NAMES:
            saved = peer.run.array(f"spectrum/{model}/{name}")
            eigs = np.linalg.eigvalsh(np.cov(peer.acts[model][name], rowvar=False))[::-1]
            np.testing.assert_allclose(saved, eigs, rtol=1e-4, atol=1e-6 * eigs[0])
            assert np.all(np.diff(saved) <= 0)


def test_spectrum_measures_follow_their_formulas_on_the_saved_spectrum(case: Case) -> None:
    r = case.results
    for model in ("trained", "twin"):
        ratios = []
        for name in case.names:
            lam = case.run.array(f"spectrum/{model}/{name}")
            assert lam.shape == (case.d,) and np.all(np.diff(lam) <= 0) and lam[-1] >= 0
            key = f"spectrum/{model}/{name}"
            p = lam / lam.sum()
            p = p[p > 0]
            _close(r[f"{key}/participation_ratio"], lam.sum() ** 2 / (lam**2).sum(), key, 1e-9)
            _close(r[f"{key}/effective_rank"], math.exp(-(p * np.log(p)).sum()), key, 1e-9)
            _close(r[f"{key}/top3_share"], lam[:3].sum() / lam.sum(), key, 1e-9)
            # λ_k ∝ k^-α fitted by least squares on log-log axes over ranks 2..d/2.
            last = min(max(4, lam.size // 2), int(np.count_nonzero(lam > 1e-12 * lam[0])))
            k = np.arange(2, last + 1)
            log_l = np.log(lam[1:last])
            design = np.stack([np.ones(k.size), np.log(k)], axis=1)
            coef, *_ = np.linalg.lstsq(design, log_l, rcond=None)
            residual = log_l - design @ coef
            r2 = 1 - (residual**2).sum() / ((log_l - log_l.mean()) ** 2).sum()
            _close(r[f"{key}/alpha"], -coef[1], key, 1e-8, 1e-8)
            _close(r[f"{key}/alpha_r2"], r2, key, 1e-8, 1e-8)
            ratios.append(r[f"{key}/participation_ratio"])
        np.testing.assert_allclose(
            case.run.array(f"spectrum/{model}/participation_ratio"), ratios, rtol=1e-12
        )


def test_jacobian_singular_values_match_autograd_on_the_peer_forward(peer: Peer) -> None:
    """σ(∂ resid_post[t] / ∂ resid_pre0[t - k]) on the sequences after the streamed ones."""
    t = CONFIG["seq_len"] - 1
    offsets = CONFIG["jacobian_offsets"]
    for model in ("trained", "twin"):
        w = peer.weights[model]
        saved = {k: peer.run.array(f"jacobian/{model}/offset_{k}") for k in offsets}
        for j in range(CONFIG["jacobian_sequences"]):
            ids = torch.from_numpy(peer.source.sequence(CONFIG["n_sequences"] + j))
            x0 = _peer_embed(w, ids)  # (seq, d)

            def last_resid_post(x: torch.Tensor, w: dict[str, torch.Tensor] = w) -> torch.Tensor:
                out = _peer_blocks(w, x[None])[f"blocks.{N_LAYER - 1}.hook_resid_post"]
                return out[0, t]  # (d,): the output position only

            full = torch.autograd.functional.jacobian(last_resid_post, x0).numpy()  # (d, seq, d)
            for k in offsets:
                expected = np.linalg.svd(full[:, t - k, :], compute_uv=False)
                np.testing.assert_allclose(
                    saved[k][j], expected, rtol=1e-3, atol=1e-5 * expected[0], err_msg=model
                )


def test_jacobian_measures_follow_their_formulas(case: Case) -> None:
    """σ_max mean and SD over samples; rank and PR of σ² over the σ at or above the floor."""
    r, c = case.results, case.config
    n_samples = c.jacobian_sequences * len(c.jacobian_output_positions)
    models = ["trained", "twin", *[f"scale_{s:g}" for s in c.twin_init_scales]]
    for model in models:
        for k in c.jacobian_offsets:
            sv = case.run.array(f"jacobian/{model}/offset_{k}")
            width = c.jacobian_top_k or case.d
            assert sv.shape == (n_samples, width) and np.all(np.diff(sv) <= 0)
            kept = [row[row >= c.jacobian_gain_floor * row[0]] for row in sv]
            pr = [(q**2).sum() ** 2 / (q**4).sum() for q in kept]
            ranks = [math.exp(-np.sum((p := q**2 / (q**2).sum()) * np.log(p))) for q in kept]
            key = f"jacobian/{model}/offset_{k}"
            _close(r[f"{key}/sigma_max"], sv[:, 0].mean(), key, 1e-12, 0)
            if n_samples > 1:
                _close(r[f"{key}/sigma_max_sd"], sv[:, 0].std(ddof=1), key, 1e-9, 0)
            _close(r[f"{key}/participation_ratio"], np.mean(pr), key, 1e-9, 0)
            _close(r[f"{key}/effective_rank"], np.mean(ranks), key, 1e-9, 0)
            _close(r[f"{key}/rank_above_floor"], np.mean([q.size for q in kept]), key, 1e-12, 0)
    # The twin at init scale 1 is the twin itself.
    for k in c.jacobian_offsets:
        if 1.0 in c.twin_init_scales:
            np.testing.assert_array_equal(
                case.run.array(f"jacobian/scale_1/offset_{k}"),
                case.run.array(f"jacobian/twin/offset_{k}"),
            )


def test_jacobian_verdicts_are_permutation_tests_of_sigma_max(case: Case) -> None:
    from workbench.measures import two_sample_permutation_test

    r, c = case.results, case.config
    trained = {k: case.run.array(f"jacobian/trained/offset_{k}")[:, 0] for k in c.jacobian_offsets}
    for i, scale in enumerate(c.twin_init_scales):
        for k in c.jacobian_offsets:
            name = f"family/jacobian/scale_{scale:g}/offset_{k}/p"
            if k < 1 or trained[k].size < 2:
                continue
            twin = case.run.array(f"jacobian/scale_{scale:g}/offset_{k}")[:, 0]
            test = two_sample_permutation_test(
                trained[k], twin, n_permutations=1999, seed=c.corpus_seed + 97 * i + k
            )
            assert r[name] == pytest.approx(test.p_value), name
        assert r[f"verdict/jacobian/scale_{scale:g}/verdict"] in VERDICT_WORDS


def test_summary_prints_the_reported_numbers(case: Case) -> None:
    r, names = case.results, case.names
    text = case.run.text("summary.md")
    for name in names:
        interval = (
            "no interval"
            if r[f"mi/{name}/flag/ridge_set"]
            else f"[{r[f'mi/{name}/low']:.2f}, {r[f'mi/{name}/high']:.2f}]"
        )
        above = " (>ceiling)" if r[f"mi/{name}/twin_twin/above_ceiling"] else ""
        base = f"{r[f'mi/{name}/twin_twin']:.2f}{above}"
        row = f"| `{name}` | {r[f'mi/{name}']:.2f} | {interval} | {base} |"
        assert row in text, name
        assert r[f"mi/{name}/twin_twin/above_ceiling"] == (
            not r[f"mi/{name}/flag/ridge_set"] and r[f"mi/{name}/twin_twin"] > r["ceiling/high"]
        )
    assert f"{r['mi/hooks_regular']} of {len(names)} hook points are regular" in text
    assert f"{r['data/n_tokens']} positions from {r['data/n_sequences']} sequences" in text
    assert f"Shannon ceiling: {r['ceiling/bits']:.1f} bits" in text
    assert "Gaussian (linear) MI" in text
    for key in ("above_zero", "above_baseline"):
        assert r[f"verdict/{key}/verdict"] in text
    for model in ("trained", "twin"):
        key = f"spectrum/{model}/{names[-1]}"
        assert f"participation ratio {r[f'{key}/participation_ratio']:.1f} of {case.d}" in text
        for k in case.config.jacobian_offsets:
            sigma = r[f"jacobian/{model}/offset_{k}/sigma_max"]
            assert re.search(rf"k={k}: σ_max {re.escape(f'{sigma:.3g}')}", text), (model, k)
