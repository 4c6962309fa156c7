"""Token sequences for the GPT-2 lab: a probabilistic grammar made in code, or a text file.

The grammar writes short paragraphs of toy English about four scenes (farm, sea,
city, forest). It has structure at several ranges, so that a trained model has
something to carry along its residual stream and between positions:

* spelling: words are byte strings, so a byte-level model must learn them;
* agreement: subject and verb agree in number ("the hen sleeps", "the hens sleep"),
  also across a relative clause ("the fox that the owls hear runs");
* brackets: a parenthesis opened after a noun is closed, and the verb inside it
  agrees with that noun ("the boats (which are calm) drift");
* reference: a sentence may open with "it" or "they", agreeing with the subject of
  the sentence before;
* topic: each paragraph draws all its content words from one scene, so early
  words predict later ones across sentences.

Every sequence ``i`` of a corpus with seed ``s`` is drawn from its own generator
``numpy.random.default_rng([s, i])``: sequences are independent of each other and
reproducible one by one, in any order.

Tokens are bytes (``vocab_size = 256``) for the offline model; a Hugging Face
tokenizer can be used instead for real GPT-2 checkpoints (:class:`HubTokenizer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.core.errors import ConfigError

__all__ = [
    "SCENES",
    "ByteTokenizer",
    "GrammarCorpus",
    "HubTokenizer",
    "SequenceSource",
    "TextFileCorpus",
    "Tokenizer",
    "grammar_paragraph",
    "grammar_text",
    "make_source",
]


# --- the grammar ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """The content words of one scene; verbs and nouns as (singular, plural) pairs."""

    nouns: tuple[tuple[str, str], ...]
    adjectives: tuple[str, ...]
    transitive: tuple[tuple[str, str], ...]
    intransitive: tuple[tuple[str, str], ...]
    places: tuple[str, ...]


SCENES: dict[str, Scene] = {
    "farm": Scene(
        nouns=(
            ("cow", "cows"),
            ("hen", "hens"),
            ("farmer", "farmers"),
            ("goat", "goats"),
            ("dog", "dogs"),
            ("horse", "horses"),
        ),
        adjectives=("muddy", "old", "brown", "quiet", "hungry", "small"),
        transitive=(
            ("feeds", "feed"),
            ("sees", "see"),
            ("chases", "chase"),
            ("follows", "follow"),
            ("pushes", "push"),
        ),
        intransitive=(("sleeps", "sleep"), ("waits", "wait"), ("eats", "eat"), ("walks", "walk")),
        places=("in the barn", "near the pond", "by the gate", "in the field"),
    ),
    "sea": Scene(
        nouns=(
            ("whale", "whales"),
            ("sailor", "sailors"),
            ("boat", "boats"),
            ("gull", "gulls"),
            ("wave", "waves"),
            ("crab", "crabs"),
        ),
        adjectives=("blue", "cold", "salty", "calm", "wild", "grey"),
        transitive=(
            ("watches", "watch"),
            ("pulls", "pull"),
            ("finds", "find"),
            ("carries", "carry"),
            ("meets", "meet"),
        ),
        intransitive=(
            ("drifts", "drift"),
            ("sings", "sing"),
            ("dives", "dive"),
            ("floats", "float"),
        ),
        places=("on the deck", "under the pier", "near the shore", "in the harbour"),
    ),
    "city": Scene(
        nouns=(
            ("driver", "drivers"),
            ("bus", "buses"),
            ("shop", "shops"),
            ("clerk", "clerks"),
            ("tower", "towers"),
            ("cyclist", "cyclists"),
        ),
        adjectives=("busy", "tall", "loud", "late", "bright", "narrow"),
        transitive=(
            ("passes", "pass"),
            ("calls", "call"),
            ("opens", "open"),
            ("paints", "paint"),
            ("helps", "help"),
        ),
        intransitive=(
            ("waits", "wait"),
            ("hurries", "hurry"),
            ("stops", "stop"),
            ("turns", "turn"),
        ),
        places=("on the corner", "by the station", "in the square", "past the bridge"),
    ),
    "forest": Scene(
        nouns=(
            ("fox", "foxes"),
            ("owl", "owls"),
            ("tree", "trees"),
            ("wolf", "wolves"),
            ("hunter", "hunters"),
            ("badger", "badgers"),
        ),
        adjectives=("dark", "green", "tall", "shy", "swift", "silent"),
        transitive=(
            ("hides", "hide"),
            ("hunts", "hunt"),
            ("hears", "hear"),
            ("climbs", "climb"),
            ("guards", "guard"),
        ),
        intransitive=(("rests", "rest"), ("howls", "howl"), ("runs", "run"), ("waits", "wait")),
        places=("under the oak", "by the stream", "in the den", "on the hill"),
    ),
}

_DETERMINERS = (("the", "a", "this", "every", "one"), ("the", "some", "these", "two", "many"))
_ADVERBS = ("slowly", "again", "today", "at night", "all day", "quietly")
_PRONOUNS = ("it", "they")
_COPULA = ("is", "are")


class _Sentences:
    """Recursive-descent sampler of one paragraph; ``num`` is 0 (singular) or 1 (plural)."""

    def __init__(self, rng: np.random.Generator, scene: Scene) -> None:
        self.rng = rng
        self.scene = scene

    def pick(self, options: tuple[Any, ...]) -> Any:
        # Zipf-like weights 1/rank: a few words are common, most are rare, as in text.
        weights = 1.0 / np.arange(1, len(options) + 1)
        return options[int(self.rng.choice(len(options), p=weights / weights.sum()))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def noun_phrase(self, num: int, depth: int) -> str:
        words = [self.pick(_DETERMINERS[num])]
        if self.chance(0.4):
            words.append(self.pick(self.scene.adjectives))
        words.append(self.pick(self.scene.nouns)[num])
        if depth < 2 and self.chance(0.2):
            # "(which is calm)": the bracket closes and its verb agrees with the noun.
            words.append(f"(which {_COPULA[num]} {self.pick(self.scene.adjectives)})")
        elif depth < 2 and self.chance(0.2):
            # Object relative clause: the outer verb must skip over it to agree.
            inner = int(self.chance(0.5))
            words.append(f"that {self.noun_phrase(inner, depth + 1)}")
            words.append(self.pick(self.scene.transitive)[inner])
        return " ".join(words)

    def verb_phrase(self, num: int, depth: int) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            obj = self.noun_phrase(int(self.chance(0.5)), depth + 1)
            return f"{self.pick(self.scene.transitive)[num]} {obj}"
        if roll < 0.8:
            words = [self.pick(self.scene.intransitive)[num]]
            if self.chance(0.5):
                words.append(self.pick(self.scene.places))
            if self.chance(0.3):
                words.append(self.pick(_ADVERBS))
            return " ".join(words)
        return f"{_COPULA[num]} {self.pick(self.scene.adjectives)}"

    def sentence(self, previous: int | None) -> tuple[str, int]:
        num = int(self.chance(0.5))
        if previous is not None and self.chance(0.3):
            num = previous  # "it"/"they" refers back to the last subject
            subject = _PRONOUNS[num]
        else:
            subject = self.noun_phrase(num, 0)
        clause = f"{subject} {self.verb_phrase(num, 0)}"
        if self.chance(0.15):
            other = int(self.chance(0.5))
            clause += f", and {self.noun_phrase(other, 1)} {self.verb_phrase(other, 1)}"
        return clause[0].upper() + clause[1:] + ".", num


def grammar_paragraph(rng: np.random.Generator) -> str:
    """One paragraph: 2 to 7 sentences about one scene, ending in a newline."""
    scene = SCENES[str(rng.choice(list(SCENES)))]
    sampler = _Sentences(rng, scene)
    sentences: list[str] = []
    previous: int | None = None
    for _ in range(int(rng.integers(2, 8))):
        text, previous = sampler.sentence(previous)
        sentences.append(text)
    return " ".join(sentences) + "\n"


def grammar_text(rng: np.random.Generator, n_chars: int) -> str:
    """Paragraphs from the grammar until at least ``n_chars`` characters (ASCII)."""
    parts: list[str] = []
    total = 0
    while total < n_chars:
        parts.append(grammar_paragraph(rng))
        total += len(parts[-1])
    return "".join(parts)


# --- tokenizers -----------------------------------------------------------------------------


class Tokenizer(Protocol):
    """Text to token ids."""

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ...


class ByteTokenizer:
    """UTF-8 bytes as tokens: ``vocab_size = 256``, no merges, no unknown tokens."""

    @property
    def vocab_size(self) -> int:
        """256."""
        return 256

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of ``text``."""
        return list(text.encode("utf-8"))


class HubTokenizer:
    """A Hugging Face tokenizer (e.g. GPT-2's BPE) from a model folder or hub name.

    Args:
        name_or_path: The model's folder or hub name.
        allow_download: Whether to fetch a hub tokenizer missing from the local cache.

    Raises:
        ConfigError: if no tokenizer files are found for ``name_or_path``.
    """

    def __init__(self, name_or_path: str, *, allow_download: bool = False) -> None:
        from transformers import AutoTokenizer

        folder = Path(name_or_path).expanduser()
        where = str(folder) if folder.is_dir() else name_or_path
        attempts = (True, False) if allow_download else (True,)
        for local_only in attempts:
            try:
                self._tok = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
                return
            except (OSError, ValueError):
                continue
        raise ConfigError(
            "model",
            name_or_path,
            "a model folder (or cached hub model) that also holds its tokenizer files "
            "(tokenizer.json or vocab.json + merges.txt); byte-level models need none",
        )

    @property
    def vocab_size(self) -> int:
        """Size of the tokenizer's vocabulary."""
        return len(self._tok)

    def encode(self, text: str) -> list[int]:
        """BPE token ids of ``text`` (no special tokens added)."""
        ids: list[int] = self._tok.encode(text, add_special_tokens=False)
        return ids


# --- sequence sources -----------------------------------------------------------------------


class SequenceSource(Protocol):
    """Independent, reproducible token sequences: ``sequence(i)`` is ``(seq_len,)`` ids."""

    description: str

    def sequence(self, index: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Token ids of sequence ``index``, ``(seq_len,)``."""
        ...


class GrammarCorpus:
    """Sequences from the in-code grammar.

    Sequence ``i`` is the text of ``default_rng([seed, i])`` from a random offset inside
    its first paragraph (so positions are not tied to sentence starts), tokenized and
    cut to ``seq_len`` tokens.

    Args:
        seed: Corpus seed; the shipped checkpoint was trained on a different seed than
            the lab measures on, so measurements are on held-out text.
        seq_len: Tokens per sequence.
        tokenizer: How text becomes tokens.
    """

    def __init__(self, seed: int, seq_len: int, tokenizer: Tokenizer | None = None) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.seed = int(seed)
        self.seq_len = int(seq_len)
        self.tokenizer: Tokenizer = tokenizer or ByteTokenizer()
        self.description = f"in-code grammar (seed {self.seed})"

    def sequence(self, index: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Token ids of sequence ``index``, ``(seq_len,)`` int64."""
        rng = np.random.default_rng([self.seed, int(index)])
        start = int(rng.integers(0, 48))
        chars = start + 2 * self.seq_len
        while True:
            text = grammar_text(rng, chars)
            ids = self.tokenizer.encode(text[start:])
            if len(ids) >= self.seq_len:
                return np.asarray(ids[: self.seq_len], dtype=np.int64)
            chars *= 2  # multi-byte tokens: ask for more text


class TextFileCorpus:
    """Sequences read from a user's text file at random byte offsets, never all at once.

    For sequence ``i`` a window of the file starting at a random offset (from
    ``default_rng([seed, i])``) is read, decoded, tokenized, and its first token
    dropped (it may be a cut word); the next ``seq_len`` tokens are the sequence.

    Args:
        path: A UTF-8 text file.
        seed: Seed of the offsets.
        seq_len: Tokens per sequence.
        tokenizer: How text becomes tokens.

    Raises:
        ConfigError: if the file is missing or too short for one sequence.
    """

    def __init__(self, path: str | Path, seed: int, seq_len: int, tokenizer: Tokenizer) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise ConfigError("corpus", str(path), "'grammar' or the path of an existing text file")
        self.size = self.path.stat().st_size
        self.seed = int(seed)
        self.seq_len = int(seq_len)
        self.tokenizer = tokenizer
        self.description = f"text file {self.path} ({self.size} bytes, seed {self.seed})"
        # Only a short file is read whole to check it; a long one surely has enough tokens
        # (a token is never longer than 64 bytes in practice).
        if self.size <= 64 * (seq_len + 1):
            n_tokens = len(self._tokens(0, self.size))
            if n_tokens < seq_len + 1:
                raise ConfigError(
                    "corpus",
                    str(path),
                    f"a text file with at least seq_len + 1 = {seq_len + 1} tokens "
                    f"(this one has {n_tokens})",
                )

    def _tokens(self, offset: int, length: int) -> list[int]:
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(length)
        return self.tokenizer.encode(raw.decode("utf-8", errors="ignore"))

    def sequence(self, index: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Token ids of sequence ``index``, ``(seq_len,)`` int64."""
        rng = np.random.default_rng([self.seed, int(index)])
        length = 8 * (self.seq_len + 1)
        while True:
            length = min(length, self.size)
            offset = int(rng.integers(0, self.size - length + 1))
            ids = self._tokens(offset, length)[1:]
            if len(ids) >= self.seq_len:
                return np.asarray(ids[: self.seq_len], dtype=np.int64)
            if length == self.size:
                raise ConfigError(
                    "corpus", str(self.path), f"a text file with more than {self.seq_len} tokens"
                )
            length *= 2


def make_source(corpus: str, seed: int, seq_len: int, tokenizer: Tokenizer) -> SequenceSource:
    """``"grammar"`` gives the grammar; anything else is taken as a text-file path."""
    if corpus == "grammar":
        return GrammarCorpus(seed, seq_len, tokenizer)
    return TextFileCorpus(corpus, seed, seq_len, tokenizer)
