"""The lab's two models: a trained GPT-2-family model and its seeded random-init twin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.core.errors import ConfigError
from workbench.core.models.gpt2 import (
    CheckpointLoadError,
    load_pretrained,
    random_twin,
    residual_hook_names,
)
from workbench_labs.gpt2_residual_mi.config import OFFLINE_DEFAULT, ResidualMIConfig
from workbench_labs.gpt2_residual_mi.corpus import ByteTokenizer, HubTokenizer, Tokenizer
from workbench_labs.gpt2_residual_mi.make_checkpoint import CHECKPOINT_DIR

__all__ = ["ModelPair", "load_model_pair", "load_second_model", "scaled_twin"]

_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer_config.json")


@dataclass
class ModelPair:
    """A trained model, its random twin (same config) and the tokenizer they share.

    Attributes:
        trained: The trained ``GPT2LMHeadModel`` (eval mode).
        twin: Same config, weights from ``torch.Generator().manual_seed(twin_seed)``.
        tokenizer: Text to token ids for both.
        source: Where the trained weights came from, in words.
        names: Residual hook points, depth order (``2 L + 1`` of them).
    """

    trained: Any
    twin: Any
    tokenizer: Tokenizer
    source: str
    names: tuple[str, ...]

    @property
    def n_layer(self) -> int:
        """Blocks L."""
        return int(self.trained.config.n_layer)

    @property
    def d_model(self) -> int:
        """Residual width."""
        return int(self.trained.config.n_embd)

    @property
    def n_parameters(self) -> int:
        """Parameters of one model."""
        return int(sum(p.numel() for p in self.trained.parameters()))


def _tokenizer_for(model: Any, where: str, allow_download: bool) -> Tokenizer:
    folder = Path(where).expanduser()
    if folder.is_dir() and not any((folder / f).is_file() for f in _TOKENIZER_FILES):
        if int(model.config.vocab_size) == 256:
            return ByteTokenizer()
        raise ConfigError(
            "model",
            where,
            "a folder with its tokenizer files (tokenizer.json or vocab.json + merges.txt); "
            f"this one has none and a vocabulary of {model.config.vocab_size}, not 256 bytes",
        )
    return HubTokenizer(where, allow_download=allow_download)


def load_model_pair(config: ResidualMIConfig, device: torch.device) -> ModelPair:
    """Load the trained model named by ``config.model`` and build its twin on ``device``.

    Raises:
        CheckpointLoadError: if the model cannot be found (with how to fix it).
        ConfigError: if ``seq_len`` exceeds the model's context or no tokenizer is found.
    """
    if config.model == OFFLINE_DEFAULT:
        if not (CHECKPOINT_DIR / "model.safetensors").is_file():
            raise CheckpointLoadError(
                f"the offline default model is missing from {CHECKPOINT_DIR}; make it with "
                "`python -m workbench_labs.gpt2_residual_mi.make_checkpoint`"
            )
        trained = load_pretrained(CHECKPOINT_DIR, device)
        tokenizer: Tokenizer = ByteTokenizer()
        # Not the absolute folder: run files are shared and must not name this machine.
        source = "offline default (the checkpoint shipped in workbench_labs.gpt2_residual_mi)"
    else:
        trained = load_pretrained(config.model, device, allow_download=config.download)
        tokenizer = _tokenizer_for(trained, config.model, config.download)
        source = config.model
    n_ctx = int(trained.config.n_positions)
    if config.seq_len > n_ctx:
        raise ConfigError("seq_len", config.seq_len, f"at most the model's context, {n_ctx}")
    if tokenizer.vocab_size > int(trained.config.vocab_size):
        raise ConfigError(
            "model",
            config.model,
            f"a model whose vocabulary ({trained.config.vocab_size}) covers its tokenizer's "
            f"({tokenizer.vocab_size})",
        )
    twin = random_twin(trained.config, config.twin_seed, device)
    names = residual_hook_names(int(trained.config.n_layer))
    return ModelPair(trained=trained, twin=twin, tokenizer=tokenizer, source=source, names=names)


def scaled_twin(config: Any, seed: int, scale: float, device: torch.device) -> Any:
    """A random-init twin whose init σ is ``scale`` times ``config.initializer_range``.

    GPT-2's scheme (σ, and σ/√(2L) for the residual projections) is kept, all scaled together;
    ``scale = 1`` is :func:`random_twin` exactly.
    """
    import copy

    scaled = copy.deepcopy(config)
    scaled.initializer_range = float(config.initializer_range) * float(scale)
    return random_twin(scaled, seed, device)


def load_second_model(config: ResidualMIConfig, pair: ModelPair, device: torch.device) -> Any:
    """The second trained checkpoint named by ``config.second_model``, checked against the first.

    Raises:
        CheckpointLoadError: if it cannot be found.
        ConfigError: if its width, depth or vocabulary differ from the first model's.
    """
    second = load_pretrained(config.second_model, device, allow_download=config.download)
    for key in ("n_embd", "n_layer", "vocab_size"):
        if int(getattr(second.config, key)) != int(getattr(pair.trained.config, key)):
            raise ConfigError(
                "second_model",
                config.second_model,
                f"a checkpoint with the first model's {key} "
                f"({getattr(pair.trained.config, key)}); this one has "
                f"{getattr(second.config, key)}",
            )
    return second
