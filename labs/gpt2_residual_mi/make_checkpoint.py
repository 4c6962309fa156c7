"""Train the lab's offline default model and write it into the package.

Run from the repository root::

    python -m workbench_labs.gpt2_residual_mi.make_checkpoint            # the shipped recipe
    python -m workbench_labs.gpt2_residual_mi.make_checkpoint --steps 50 --out /tmp/ckpt

It trains a small GPT-2 (4 blocks, width 128, 4 heads, context 128, byte tokens,
about 0.84 M parameters, 3.4 MB of float32 safetensors) on the in-code grammar of
:mod:`workbench_labs.gpt2_residual_mi.corpus`, then writes into
``labs/gpt2_residual_mi/checkpoint/``:

* ``model.safetensors`` and ``config.json`` (``save_pretrained``; loads with
  ``GPT2LMHeadModel.from_pretrained``, no pickle),
* ``training.toml``: the recipe, the final training loss, the held-out loss in bits
  per byte next to the held-out unigram entropy, versions and wall time.

The run is reproducible: weights come from a seeded ``torch.Generator``, the data
from seeded grammar sequences, dropout is off, and nothing touches global RNG state.
(Floating-point sums can still differ across CPUs, thread counts and library
versions, so a remade checkpoint matches the shipped one closely, not bit for bit.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.core.atomic import atomic_write_toml
from workbench.core.models.gpt2 import gpt2_config, random_twin
from workbench_labs.gpt2_residual_mi.corpus import GrammarCorpus

__all__ = [
    "CHECKPOINT_DIR",
    "TrainingRecipe",
    "main",
    "train_offline_model",
    "unigram_entropy_bits",
    "write_checkpoint",
]

log = logging.getLogger(__name__)

#: Where the shipped offline default model lives.
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoint"


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that determines the offline default model.

    Attributes:
        n_layer: Blocks L.
        n_embd: Residual width d_model.
        n_head: Attention heads.
        n_ctx: Context length, also the training sequence length (tokens).
        corpus_seed: Grammar seed of the training sequences.
        init_seed: Seed of the initial weights.
        steps: Optimiser steps.
        batch_size: Sequences per step (fresh sequences every step: no epochs).
        lr: Peak AdamW learning rate.
        warmup_steps: Linear warm-up steps, then cosine decay to ``lr * min_lr_ratio``.
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        weight_decay: AdamW decoupled weight decay.
        eval_seed: Grammar seed of the held-out sequences.
        eval_sequences: Held-out sequences for the final loss.
    """

    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    n_ctx: int = 128
    corpus_seed: int = 0
    init_seed: int = 0
    steps: int = 1200
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    eval_seed: int = 7
    eval_sequences: int = 64

    def learning_rate(self, step: int) -> float:
        """Learning rate at ``step`` (0-based): linear warm-up, then cosine decay."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        floor = self.lr * self.min_lr_ratio
        return floor + (self.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _batch(corpus: GrammarCorpus, start: int, size: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([corpus.sequence(start + j) for j in range(size)]))


def unigram_entropy_bits(tokens: np.ndarray[Any, Any], vocab_size: int = 256) -> float:
    """Plug-in entropy of the token frequencies, in bits per token.

    ``H = -Σ_v p_v log2 p_v`` with ``p_v`` the fraction of tokens equal to ``v``; the
    loss a model would reach by ignoring context, so a trained model must beat it.
    """
    counts = np.bincount(np.asarray(tokens).ravel(), minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def train_offline_model(
    recipe: TrainingRecipe,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> tuple[Any, dict[str, float]]:
    """Train the offline default model on the grammar, on CPU.

    Args:
        recipe: The training recipe.
        on_progress: Called as ``on_progress(step, steps, loss_bits)`` every 50 steps
            and at the end; may raise to stop.

    Returns:
        ``(model, summary)``: the trained ``GPT2LMHeadModel`` (eval mode) and a summary
        with ``final_train_loss_bits`` (mean of the last 50 steps, bits per byte),
        ``heldout_loss_bits`` and ``heldout_unigram_entropy_bits``.
    """
    config = gpt2_config(
        n_layer=recipe.n_layer, n_embd=recipe.n_embd, n_head=recipe.n_head, n_ctx=recipe.n_ctx
    )
    model = random_twin(config, recipe.init_seed, "cpu").train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, betas=(0.9, 0.95), weight_decay=recipe.weight_decay
    )
    corpus = GrammarCorpus(recipe.corpus_seed, recipe.n_ctx)
    recent: list[float] = []
    for step in range(recipe.steps):
        for group in optimizer.param_groups:
            group["lr"] = recipe.learning_rate(step)
        ids = _batch(corpus, step * recipe.batch_size, recipe.batch_size)  # (batch, n_ctx)
        loss = model(input_ids=ids, labels=ids).loss  # mean next-byte cross-entropy, nats
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        recent = [*recent[-49:], loss.item() / math.log(2)]
        if on_progress is not None and ((step + 1) % 50 == 0 or step + 1 == recipe.steps):
            on_progress(step + 1, recipe.steps, float(np.mean(recent)))
    model.eval()
    heldout = _batch(GrammarCorpus(recipe.eval_seed, recipe.n_ctx), 0, recipe.eval_sequences)
    with torch.no_grad():
        heldout_loss = float(model(input_ids=heldout, labels=heldout).loss) / math.log(2)
    summary = {
        "final_train_loss_bits": float(np.mean(recent)) if recent else float("nan"),
        "heldout_loss_bits": heldout_loss,
        "heldout_unigram_entropy_bits": unigram_entropy_bits(heldout.numpy()),
    }
    return model, summary


def write_checkpoint(
    model: Any, folder: Path, recipe: TrainingRecipe, summary: dict[str, float], seconds: float
) -> None:
    """Write ``model.safetensors``, ``config.json`` and ``training.toml`` into ``folder``."""
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "generation_config.json").unlink(missing_ok=True)  # not used: no generation
    record = {
        "command": "python -m workbench_labs.gpt2_residual_mi.make_checkpoint",
        "made": dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        "corpus": "grammar (workbench_labs.gpt2_residual_mi.corpus), byte tokens",
        "recipe": dataclasses.asdict(recipe),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "tokens_seen": recipe.steps * recipe.batch_size * recipe.n_ctx,
        "units": "losses are next-byte cross-entropy in bits per byte",
        **summary,
        "seconds": round(seconds, 1),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
    }
    atomic_write_toml(folder / "training.toml", record)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: train with the shipped recipe (or overrides) and write the folder."""
    parser = argparse.ArgumentParser(
        prog="python -m workbench_labs.gpt2_residual_mi.make_checkpoint",
        description="Train the GPT-2 lab's offline default model on the in-code grammar.",
    )
    defaults = TrainingRecipe()
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="output folder")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimiser steps")
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="sequences per step"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    recipe = dataclasses.replace(defaults, steps=args.steps, batch_size=args.batch_size)

    started = time.perf_counter()

    def report(step: int, steps: int, loss_bits: float) -> None:
        rate = step / (time.perf_counter() - started)
        log.info("step %d/%d  loss %.3f bits/byte  %.2f steps/s", step, steps, loss_bits, rate)

    model, summary = train_offline_model(recipe, report)
    seconds = time.perf_counter() - started
    write_checkpoint(model, args.out, recipe, summary, seconds)
    log.info(
        "held-out loss %.3f bits/byte (unigram entropy %.3f); wrote %s in %.0f s",
        summary["heldout_loss_bits"],
        summary["heldout_unigram_entropy_bits"],
        args.out,
        seconds,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
