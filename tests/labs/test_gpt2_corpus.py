"""The in-code grammar, the text-file source and the token batches of the GPT-2 lab."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from workbench.core.errors import ConfigError
from workbench_labs.gpt2_residual_mi.corpus import (
    SCENES,
    ByteTokenizer,
    GrammarCorpus,
    TextFileCorpus,
    grammar_paragraph,
    grammar_text,
    make_source,
)
from workbench_labs.gpt2_residual_mi.stream import (
    batch_sizes,
    curve_token_counts,
    sample_positions,
    token_batches,
)


@pytest.fixture(scope="module")
def text() -> str:
    return grammar_text(np.random.default_rng(0), 60_000)


def test_grammar_is_ascii_sentences(text: str) -> None:
    assert text.isascii()
    for paragraph in text.strip("\n").split("\n"):
        sentences = re.split(r"(?<=\.) ", paragraph)
        assert 2 <= len(sentences) <= 7
        for sentence in sentences:
            assert sentence[0].isupper() and sentence.endswith(".")


def test_brackets_close_and_agree_with_their_noun(text: str) -> None:
    singular = {s for scene in SCENES.values() for s, _ in scene.nouns}
    plural = {p for scene in SCENES.values() for _, p in scene.nouns}
    assert text.count("(") == text.count(")") > 100
    for noun, verb in re.findall(r"(\w+) \(which (is|are) ", text):
        assert (noun in singular and verb == "is") or (noun in plural and verb == "are"), noun


def test_pronouns_agree_with_their_verb(text: str) -> None:
    """ "It" takes the singular verb form, "They" the plural one, in every scene."""
    verbs_sg = {s for sc in SCENES.values() for s, _ in (*sc.transitive, *sc.intransitive)}
    verbs_pl = {p for sc in SCENES.values() for _, p in (*sc.transitive, *sc.intransitive)}
    it = re.findall(r"\bIt (\w+)", text)
    they = re.findall(r"\bThey (\w+)", text)
    assert len(it) > 50 and len(they) > 50
    assert all(v in verbs_sg or v == "is" for v in it)
    assert all(v in verbs_pl or v == "are" for v in they)


def test_paragraphs_stay_in_one_scene() -> None:
    rng = np.random.default_rng(1)
    scene_of = {n: k for k, sc in SCENES.items() for pair in sc.nouns for n in pair}
    for _ in range(50):
        words = re.findall(r"[a-z]+", grammar_paragraph(rng).lower())
        scenes = {scene_of[w] for w in words if w in scene_of}
        assert len(scenes) == 1


def test_sequences_are_reproducible_one_by_one() -> None:
    corpus = GrammarCorpus(seed=5, seq_len=64)
    forwards = [corpus.sequence(i) for i in range(6)]
    backwards = [corpus.sequence(i) for i in reversed(range(6))][::-1]
    for a, b in zip(forwards, backwards, strict=True):
        assert a.shape == (64,) and a.dtype == np.int64
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(forwards[0], forwards[1])
    assert not np.array_equal(corpus.sequence(0), GrammarCorpus(seed=6, seq_len=64).sequence(0))


def test_text_file_windows_come_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    body = "".join(f"line {i}: the quick brown fox jumps.\n" for i in range(400))
    path.write_text(body, encoding="utf-8")
    corpus = TextFileCorpus(path, seed=0, seq_len=40, tokenizer=ByteTokenizer())
    raw = body.encode()
    for i in range(20):
        window = bytes(corpus.sequence(i).astype(np.uint8))
        assert len(window) == 40 and window in raw


def test_text_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'corpus'"):
        make_source(str(tmp_path / "missing.txt"), 0, 16, ByteTokenizer())
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least seq_len"):
        TextFileCorpus(short, seed=0, seq_len=64, tokenizer=ByteTokenizer())


def test_positions_are_distinct_and_in_range() -> None:
    pos = sample_positions(np.random.default_rng(0), 500, seq_len=20, first=6, per_sequence=5)
    assert pos.shape == (500, 5)
    assert pos.min() >= 6 and pos.max() < 20
    assert np.all(np.diff(pos, axis=1) > 0)
    # Uniform over the 14 allowed positions: each is picked 500 * 5 / 14 ≈ 179 times.
    counts = np.bincount(pos.ravel(), minlength=20)[6:]
    assert counts.min() > 120 and counts.max() < 240


def test_batches_cover_the_requested_sequences() -> None:
    sizes = batch_sizes(100, 32, 8)
    assert sizes == [32, 32, 32]  # the last 4 would leave the 8 groups unequal: dropped
    corpus = GrammarCorpus(seed=1, seq_len=16)
    batches = list(
        token_batches(corpus, sizes, seq_len=16, first_position=2, positions_per_sequence=3, seed=1)
    )
    assert [b.input_ids.shape for b in batches] == [(32, 16)] * 3
    np.testing.assert_array_equal(batches[1].input_ids[0].numpy(), corpus.sequence(32))
    assert batches[2].positions.shape == (32, 3)


def test_curve_points_sit_on_batch_boundaries() -> None:
    cumulative = list(range(256, 256 * 40 + 1, 256))
    auto = curve_token_counts((), cumulative, minimum=600)
    assert auto[0] == 768 and auto[-1] == cumulative[-1]
    assert all(c in cumulative for c in auto)
    assert np.all(np.diff(auto) > 0)
    assert 5 <= len(auto) <= 8
    assert curve_token_counts((1000, 5000), cumulative, minimum=600) == [1024, 5120, 10240]
