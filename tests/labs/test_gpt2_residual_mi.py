"""The gpt2-residual-mi lab on a tiny 2-block model on CPU: MI of identical and of independent
streams, hook shapes, offline loading, a headless end-to-end run, config errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.core.errors import ConfigError
from workbench.core.inference import VERDICT_WORDS
from workbench.core.models.gpt2 import (
    collect_residual_stream,
    gpt2_config,
    random_twin,
    residual_hook_names,
)
from workbench.core.runner import run_lab
from workbench.core.runs import Run
from workbench_labs.gpt2_residual_mi import LAB
from workbench_labs.gpt2_residual_mi.analysis import mi_point
from workbench_labs.gpt2_residual_mi.corpus import GrammarCorpus
from workbench_labs.gpt2_residual_mi.stream import (
    ResidualAccumulators,
    batch_sizes,
    token_batches,
)

N_LAYER, D_MODEL = 2, 32
NAMES = residual_hook_names(N_LAYER)

#: A small run: 128 sequences x 4 positions = 512 tokens for 2 x 32 = 64 joint dimensions.
TINY_RUN = {
    "n_sequences": 128,
    "batch_size": 32,
    "n_groups": 8,
    "n_permutations": 9,
    "seq_len": 24,
    "first_position": 4,
    "positions_per_sequence": 4,
    "jacobian_sequences": 1,
    "jacobian_offsets": [0, 1, 4],
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-block, width-32 byte-level GPT-2 saved the way save_pretrained does."""
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model = random_twin(gpt2_config(n_layer=N_LAYER, n_embd=D_MODEL, n_head=4, n_ctx=32), seed=7)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def _stream_pair(model_a, model_b, n_sequences: int = 96):  # type: ignore[no-untyped-def]
    """Accumulate (a, b) residual streams on grammar text, plus the a-streams in memory."""
    acc = ResidualAccumulators.create(
        NAMES, D_MODEL, n_groups=4, n_permutations=9, seed=0, layer_matrix=False, device="cpu"
    )
    source = GrammarCorpus(seed=3, seq_len=24)
    batches = token_batches(
        source,
        batch_sizes(n_sequences, 32, 4),
        seq_len=24,
        first_position=4,
        positions_per_sequence=6,
        seed=3,
    )
    kept: dict[str, list[torch.Tensor]] = {name: [] for name in NAMES}
    for batch, (a, b) in collect_residual_stream([model_a, model_b], batches, NAMES, "cpu"):
        acc.update(a, b, batch.input_ids.shape[0])
        for name in NAMES:
            kept[name].append(a[name])
    return acc, {name: torch.cat(v).double().numpy() for name, v in kept.items()}


def test_model_with_itself_gives_the_mi_of_identical_streams(tiny_folder: Path) -> None:
    """For X with itself the joint covariance is singular; the estimator adds a relative ridge
    λ (Σ + λ diag Σ) and then, with μ_i the eigenvalues of X's correlation matrix,

        I(X; X) = ½ Σ_i log2[(μ_i + λ)² / (λ (2 μ_i + λ))]  bits,

    computed here from activations kept in memory (a peer path: numpy's corrcoef)."""
    from workbench.core.models.gpt2 import load_pretrained

    model = load_pretrained(tiny_folder, "cpu")
    acc, kept = _stream_pair(model, model)
    for name in NAMES:
        details = acc.pairs[name].gaussian_mutual_information_details()
        assert details.ridge > 0, "identical streams must make the joint covariance singular"
        mu = np.clip(np.linalg.eigvalsh(np.corrcoef(kept[name], rowvar=False)), 0, None)
        lam = details.ridge
        expected = 0.5 * np.sum(np.log2((mu + lam) ** 2 / (lam * (2 * mu + lam))))
        assert details.plugin_bits == pytest.approx(expected, rel=1e-6), name


def test_twin_with_another_seed_shares_less(tiny_folder: Path) -> None:
    from workbench.core.models.gpt2 import load_pretrained

    model = load_pretrained(tiny_folder, "cpu")
    twin = random_twin(model.config, seed=123)
    same, _ = _stream_pair(model, model)
    other, _ = _stream_pair(model, twin)
    for name in NAMES[1:]:  # resid_pre of block 0 only sees (token, position): see below
        identical = same.pairs[name].gaussian_mutual_information_details()
        between = other.pairs[name].gaussian_mutual_information_details()
        assert between.ridge == 0.0, name
        assert math.isfinite(between.bits)
        assert between.bits < identical.plugin_bits, name


def test_independent_pairs_sit_on_the_null() -> None:
    """Pairs that share nothing: the corrected MI interval covers 0, the shuffles match it."""
    g = torch.Generator().manual_seed(0)
    acc = ResidualAccumulators.create(
        ("h",), 8, n_groups=8, n_permutations=19, seed=1, layer_matrix=False, device="cpu"
    )
    for _ in range(20):
        x = torch.randn(256, 8, generator=g, dtype=torch.float64)
        y = torch.randn(256, 8, generator=g, dtype=torch.float64)
        acc.update({"h": x}, {"h": y}, 64)
    point = mi_point(acc.pairs["h"], 0.95)
    assert point.low < 0 < point.high
    # Plug-in bias of Gaussian MI for independent d_x = d_y = 8: ≈ d_x d_y / (2 n ln 2) bits.
    expected_bias = 64 / (2 * point.n_tokens * math.log(2))
    assert point.null_mean == pytest.approx(expected_bias, rel=0.3)
    assert abs(point.null_corrected_mean) < 0.3 * expected_bias


def test_jackknife_groups_hold_whole_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each token row is given the group of its sequence, ``sequence index mod G`` counted over
    the whole stream, whatever the batch size (here not a multiple of G)."""
    n_groups, n_pos, d = 8, 5, 3
    acc = ResidualAccumulators.create(
        ("h",), d, n_groups=n_groups, n_permutations=0, seed=0, layer_matrix=False, device="cpu"
    )
    seen: list[np.ndarray] = []
    update = acc.pairs["h"].update

    def spy(x: torch.Tensor, y: torch.Tensor, *, groups: torch.Tensor) -> None:
        seen.append(groups.numpy().copy())
        update(x, y, groups=groups)

    monkeypatch.setattr(acc.pairs["h"], "update", spy)
    gen = torch.Generator().manual_seed(0)
    first = 0
    for size in (12, 12, 7):
        rows = torch.randn(n_pos * size, d, generator=gen)  # position-major: slot * size + seq
        acc.update({"h": rows}, {"h": rows + 1.0}, size)
        groups = seen[-1].reshape(n_pos, size)
        assert np.all(groups == groups[0]), "a sequence was split across jackknife groups"
        np.testing.assert_array_equal(groups[0], (first + np.arange(size)) % n_groups)
        first += size
    assert acc.n_sequences == 31 and acc.n_tokens == 31 * n_pos


def test_headless_run_end_to_end(tiny_folder: Path, project) -> None:  # type: ignore[no-untyped-def]
    config = LAB.make_config({"model": str(tiny_folder), **TINY_RUN})
    run = run_lab(LAB, config, project, device="cpu")
    assert run.status == "completed"
    again = Run(run.path)  # the run folder round-trips
    results = again.results
    assert results["data/n_tokens"] == 128 * 4
    assert results["data/n_sequences"] == 128
    assert results["model/n_layer"] == N_LAYER
    for name in NAMES:
        assert f"mi/{name}" in results
        if results[f"mi/{name}/flag/ridge_set"]:  # set by the ridge: no interval at all
            assert math.isnan(results[f"mi/{name}/low"]) and math.isnan(results[f"mi/{name}/high"])
        else:
            assert results[f"mi/{name}/low"] <= results[f"mi/{name}/high"]
            assert results[f"mi/{name}/twin_twin/low"] <= results[f"mi/{name}/twin_twin/high"]
        assert f"spectrum/trained/{name}/participation_ratio" in results
        assert again.array(f"spectrum/twin/{name}").shape == (D_MODEL,)
        curve = again.array(f"curve/{name}")
        assert curve.shape[0] == 6
        assert curve.shape[1] == again.array("curve/n_tokens").shape[0]
    for key in ("trained", "twin", "cross"):
        matrix = again.array(f"layers/mi_{key}")
        assert matrix.shape == (len(NAMES), len(NAMES))
    assert np.all(np.isnan(np.diag(again.array("layers/mi_trained"))))
    # The cross matrix's diagonal is the first twin's MI per hook, from another accumulator.
    per_twin = again.array("mi/per_twin")
    assert per_twin.shape == (4, len(NAMES))
    regular = [i for i, n in enumerate(NAMES) if not results[f"mi/{n}/flag/ridge_set"]]
    np.testing.assert_allclose(
        np.diag(again.array("layers/mi_cross"))[regular], per_twin[0, regular], rtol=1e-6
    )
    np.testing.assert_allclose(
        [results[f"mi/{NAMES[i]}"] for i in regular], per_twin[:, regular].mean(axis=0)
    )
    sv = again.array("jacobian/trained/offset_1")
    assert sv.shape == (1, D_MODEL)
    assert np.all(np.diff(sv[0]) <= 0)
    assert again.array("jacobian/scale_4/offset_1").shape == (1, D_MODEL)
    assert again.array("mi/flags").shape == (4, len(NAMES))
    summary = again.text("summary.md")
    assert (
        "Gaussian (linear) MI per hook point" in summary and "blocks.1.hook_resid_post" in summary
    )
    assert "Shannon ceiling" in summary and "## Verdicts" in summary
    assert results["mi/headline"].startswith("Gaussian (linear) MI")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"batch_size": 30, "n_groups": 8}, "batch_size"),
        (
            {"seq_len": 10, "first_position": 8, "positions_per_sequence": 4},
            "positions_per_sequence",
        ),
        ({"token_counts": [500, 200]}, "token_counts"),
        ({"jacobian_offsets": [0, 64]}, "jacobian_offsets"),
        ({"n_sequences": 10}, "n_sequences"),
        ({"noise_flag_fraction": 0.05}, "noise_flag_fraction"),
        ({"jacobian_positions": [80]}, "jacobian_positions"),
        ({"jacobian_positions": [2], "jacobian_offsets": [0, 4]}, "jacobian_offsets"),
        ({"null_parts": 9}, "null_parts"),
        ({"twin_seeds": 0}, "twin_seeds"),
    ],
)
def test_bad_configs_name_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        LAB.make_config(values)


def test_missing_model_folder_is_a_clear_failure(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from workbench.core.runner import RunFailedError

    config = LAB.make_config({"model": str(tmp_path / "no-model"), **TINY_RUN})
    with pytest.raises(RunFailedError, match="does not exist"):
        run_lab(LAB, config, project, device="cpu")


def test_seq_len_beyond_the_context_is_refused(tiny_folder: Path, project) -> None:  # type: ignore[no-untyped-def]
    from workbench.core.runner import RunFailedError

    config = LAB.make_config({"model": str(tiny_folder), **TINY_RUN, "seq_len": 64})
    with pytest.raises(RunFailedError, match="seq_len"):
        run_lab(LAB, config, project, device="cpu")


@pytest.mark.slow
def test_default_offline_run_completes(project) -> None:  # type: ignore[no-untyped-def]
    """The shipped checkpoint with the default config (about three minutes on 2 cores)."""
    run = run_lab(LAB, LAB.make_config({}), project, device="cpu")
    assert run.status == "completed"
    assert run.results["model/d_model"] == 128
    assert run.results["data/n_tokens"] == 1536 * 8


def test_quick_preset_runs_the_shipped_model(project) -> None:  # type: ignore[no-untyped-def]
    """``--preset quick`` on the shipped checkpoint: every step, every verdict written."""
    run = run_lab(LAB, LAB.make_config(LAB.preset("quick")), project, device="cpu")
    assert run.status == "completed"
    r = run.results
    assert r["data/n_tokens"] == 128 * 4 and r["model/twin_seeds"] == 2
    for key in ("above_zero", "above_baseline", "jacobian/scale_1", "jacobian/scale_4"):
        assert r[f"verdict/{key}/verdict"] in VERDICT_WORDS
    assert r["ceiling/bits"] > r["ceiling/first_token_bits"] > 0


def test_second_checkpoint_gives_trained_versus_trained(
    tiny_folder: Path, project, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A second checkpoint identical to the first: the trained-versus-trained joint covariance
    is singular at every hook (the streams are equal), so every row is ridge-set."""
    values = {**TINY_RUN, "model": str(tiny_folder), "second_model": str(tiny_folder),
              "twin_seeds": 1, "layer_matrix": False, "jacobian_sequences": 0}  # fmt: skip
    run = run_lab(LAB, LAB.make_config(values), project, device="cpu")
    assert run.status == "completed"
    for name in NAMES:
        assert run.results[f"trained_trained/{name}/ridge"] > 0
        assert math.isnan(run.results[f"trained_trained/{name}/low"])
    assert "Trained versus trained" in run.text("summary.md")


def test_bpe_model_folder_on_a_text_file(tmp_path: Path, project) -> None:  # type: ignore[no-untyped-def]
    """A folder holding a (here tiny, trained-in-test) byte-level BPE tokenizer, as GPT-2's
    folders do, read through the text-file corpus; Jacobians by randomized top-k."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from workbench_labs.gpt2_residual_mi.corpus import grammar_text

    text = grammar_text(np.random.default_rng(0), 40_000)
    (tmp_path / "notes.txt").write_text(text, encoding="utf-8")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator([text], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe)
    folder = tmp_path / "bpe-gpt2"
    config = gpt2_config(
        n_layer=N_LAYER, n_embd=D_MODEL, n_head=4, n_ctx=32, vocab_size=len(tokenizer)
    )
    random_twin(config, seed=2).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)

    values = {
        **TINY_RUN,
        "model": str(folder),
        "corpus": str(tmp_path / "notes.txt"),
        "jacobian_top_k": 4,
        "layer_matrix": False,
    }
    run = run_lab(LAB, LAB.make_config(values), project, device="cpu")
    assert run.status == "completed"
    assert "text file" in run.results["data/corpus"]
    assert run.results["data/n_tokens"] == 512
    assert run.array("jacobian/twin/offset_4").shape == (1, 4)
    assert "layers/mi_cross" not in run.array_names()
