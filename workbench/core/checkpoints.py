"""Ensemble checkpoints: every seed of an :class:`EnsembleMLP` in one safetensors file.

Keys are ``layers.{i}.weight: (seed, d_out, d_in)`` and ``layers.{i}.bias: (seed,
d_out)`` (0-based, the ``nn.Linear`` convention stacked over seeds); the metadata
records the format, the activation and the seeds. Re-exported by
:mod:`workbench.core.ensemble`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor

from workbench.core.models.mlp import EnsembleMLP

__all__ = ["CHECKPOINT_FORMAT", "ensemble_from_state_dict", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "workbench.ensemble-mlp/1"


def save_checkpoint(model: EnsembleMLP, path: str | Path) -> None:
    """Write all seeds to one safetensors file.

    Keys are ``layers.{i}.weight: (seed, d_out, d_in)`` and ``layers.{i}.bias:
    (seed, d_out)``; the metadata records the activation and the seeds.
    """
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "activation": model.activation,
        "seeds": json.dumps(list(model.seeds)),
    }
    save_file(tensors, str(path), metadata=metadata)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> EnsembleMLP:
    """Read an ensemble written by :func:`save_checkpoint`.

    Raises:
        ValueError: If the file lacks the ensemble metadata or layer keys.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        metadata = fh.metadata() or {}
        tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (not a dict)
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an ensemble checkpoint (format {metadata.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r}); use ensemble_from_state_dict for bare tensors"
        )
    seeds = [int(s) for s in json.loads(metadata["seeds"])]
    return ensemble_from_state_dict(tensors, metadata["activation"], seeds).to(device)


def ensemble_from_state_dict(
    tensors: Mapping[str, Tensor],
    activation: str,
    seeds: Iterable[int] | None = None,
) -> EnsembleMLP:
    """Rebuild an ensemble from ``layers.{i}.weight`` / ``layers.{i}.bias`` tensors.

    Raises:
        ValueError: If a layer's weight or bias is missing or the shapes do not chain.
    """
    n_layers = sum(1 for key in tensors if key.startswith("layers.") and key.endswith(".weight"))
    missing = [
        key
        for i in range(n_layers)
        for key in (f"layers.{i}.weight", f"layers.{i}.bias")
        if key not in tensors
    ]
    if n_layers == 0 or missing:
        raise ValueError(
            f"expected keys layers.0.weight, layers.0.bias, ...; missing {missing or 'all'}"
        )
    weights = [tensors[f"layers.{i}.weight"] for i in range(n_layers)]
    biases = [tensors[f"layers.{i}.bias"] for i in range(n_layers)]
    return EnsembleMLP.from_layers(
        weights, biases, activation, None if seeds is None else list(seeds)
    )
