"""The names a config may choose from, importable without torch.

A lab's config validates ``activation``, ``optimizer``, ``loss`` and the like against these
tuples when its dataclass is defined, so a config module must not import the torch modules
that implement them: ``workbench labs`` lists and describes every lab without torch. The
implementing modules import these same tuples (:data:`workbench.core.models.mlp.ACTIVATIONS`,
:data:`workbench.core.optim.OPTIMIZERS`, :data:`workbench.core.trainer.LOSSES`,
:data:`workbench.core.barriers.DEFINITIONS`), so each name is written once;
``tests/core/test_lab_contract.py`` checks that every name offered runs.
"""

from __future__ import annotations

__all__ = ["ACTIVATIONS", "BARRIER_DEFINITIONS", "LOSSES", "OPTIMIZERS"]

#: Hidden-layer nonlinearities of the batched MLP (``workbench.core.models.mlp``).
ACTIVATIONS = ("relu", "tanh", "gelu", "leaky-relu", "linear")

#: Batched optimisers, one independent optimiser per seed (``workbench.core.optim``).
OPTIMIZERS = ("adam", "sgd")

#: Per-seed losses, each a mean over batch and output units (``workbench.core.trainer``).
LOSSES = ("mse", "bce-with-logits")

#: Loss-barrier definitions on the straight path between two nets (``workbench.core.barriers``).
BARRIER_DEFINITIONS = ("interpolated", "max-endpoint")
