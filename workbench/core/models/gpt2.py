"""GPT-2-family models: loading, a seeded random-init twin, and residual-stream hooks.

Models are Hugging Face ``transformers`` ``GPT2LMHeadModel`` objects with their raw
weights: no layer-norm folding, no centring, nothing that TransformerLens would do
on load. Only the *names* of the hook points follow TransformerLens, so that
interpretability users recognise them:

* ``blocks.{i}.hook_resid_pre``  input of block ``i`` (``i = 0`` is token + position
  embedding),
* ``blocks.{i}.hook_resid_mid``  after the attention residual add, before the MLP,
* ``blocks.{L-1}.hook_resid_post`` output of the last block, *before* ``ln_f``.

``blocks.{i}.hook_resid_post`` equals ``blocks.{i+1}.hook_resid_pre``, so only the
last block's ``resid_post`` is listed. Note that ``output_hidden_states`` of
``transformers`` gives ``resid_pre`` of every block followed by ``ln_f(resid_post)``
(the final layer norm is applied to its last entry), which is why the hooks here
read the *inputs* of the layer norms instead:

* ``ln_1`` of block ``i`` sees ``resid_pre``,
* ``ln_2`` of block ``i`` sees ``resid_mid``,
* ``ln_f`` sees the last ``resid_post``.

Shapes: ``input_ids: (batch, seq)``, ``positions: (batch, n_pos)`` (the token
positions sampled from each sequence), activations ``(batch * n_pos, d_model)``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from workbench.core.errors import WorkbenchError

__all__ = [
    "RESID_KINDS",
    "CheckpointLoadError",
    "TokenBatch",
    "check_hub_model",
    "collect_residual_stream",
    "eager_attention",
    "embed_tokens",
    "gpt2_config",
    "hook_name",
    "init_gpt2_weights_",
    "load_pretrained",
    "parse_hook_name",
    "random_twin",
    "resid_post_from_resid_pre0",
    "residual_hook_names",
    "residual_stream",
]

log = logging.getLogger(__name__)

#: The residual-stream hook kinds, in the order they occur inside a block.
RESID_KINDS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")

_HOOK_RE = re.compile(r"^blocks\.(\d+)\.(hook_resid_pre|hook_resid_mid|hook_resid_post)$")


class CheckpointLoadError(WorkbenchError):
    """A GPT-2 checkpoint could not be found, read, or is not GPT-2-family."""


# --- hook names ----------------------------------------------------------------------------


def hook_name(layer: int, kind: str) -> str:
    """``hook_name(3, "hook_resid_pre") == "blocks.3.hook_resid_pre"``."""
    if kind not in RESID_KINDS:
        raise ValueError(f"hook kind {kind!r} is not one of {', '.join(RESID_KINDS)}")
    return f"blocks.{layer}.{kind}"


def residual_hook_names(n_layer: int) -> tuple[str, ...]:
    """Every residual-stream hook point of an ``n_layer`` model, in depth order.

    ``blocks.0.hook_resid_pre, blocks.0.hook_resid_mid, blocks.1.hook_resid_pre, ...,
    blocks.{L-1}.hook_resid_mid, blocks.{L-1}.hook_resid_post``: ``2 L + 1`` names.
    """
    if n_layer < 1:
        raise ValueError(f"n_layer must be >= 1, got {n_layer}")
    names = [hook_name(i, kind) for i in range(n_layer) for kind in RESID_KINDS[:2]]
    names.append(hook_name(n_layer - 1, "hook_resid_post"))
    return tuple(names)


def parse_hook_name(name: str) -> tuple[int, str]:
    """``"blocks.3.hook_resid_mid"`` -> ``(3, "hook_resid_mid")``.

    Raises:
        ValueError: if the name is not a residual-stream hook point.
    """
    match = _HOOK_RE.match(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a residual-stream hook point; use blocks.<i>.hook_resid_pre, "
            "blocks.<i>.hook_resid_mid or blocks.<last>.hook_resid_post"
        )
    return int(match.group(1)), match.group(2)


# --- configs and initialisation ------------------------------------------------------------


def gpt2_config(
    *,
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_ctx: int,
    vocab_size: int = 256,
) -> Any:
    """A small GPT-2 config with dropout off (training and measuring stay deterministic).

    Args:
        n_layer: Number of blocks L.
        n_embd: Residual width d_model; must be divisible by ``n_head``.
        n_head: Attention heads per block.
        n_ctx: Context length (number of learned position embeddings).
        vocab_size: Token vocabulary; 256 for byte-level tokens.

    Returns:
        A ``transformers.GPT2Config``.
    """
    from transformers import GPT2Config

    if n_embd % n_head:
        raise ValueError(f"n_embd = {n_embd} must be divisible by n_head = {n_head}")
    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_ctx,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        # GPT-2's 50256 is outside a byte vocabulary; token 0 is never used as a real id here.
        bos_token_id=0,
        eos_token_id=0,
    )


@torch.no_grad()
def init_gpt2_weights_(model: nn.Module, generator: torch.Generator) -> None:
    """Initialise every parameter of a GPT-2 model in place, from ``generator`` only.

    The scheme is GPT-2's (Radford et al. 2019, §2.3), as in ``transformers``:

    * embeddings and every ``Conv1D``/``Linear`` weight ~ N(0, σ²), σ = ``initializer_range``;
    * the residual output projections ``c_proj`` ~ N(0, (σ / √(2L))²), one factor of 2
      for the two residual branches (attention and MLP) of each of the L blocks;
    * biases 0, layer-norm gains 1.

    Values are drawn on the generator's device (CPU for a CPU generator) and copied,
    so a seed gives the same weights on every device. Global RNG state is untouched.

    Args:
        model: A ``GPT2LMHeadModel`` or ``GPT2Model``.
        generator: The twin's own generator.
    """
    from transformers.pytorch_utils import Conv1D

    config: Any = model.config
    sigma = float(config.initializer_range)
    sigma_proj = sigma / math.sqrt(2 * int(config.n_layer))

    def normal_(param: Tensor, std: float) -> None:
        draw = torch.randn(
            param.shape, generator=generator, device=generator.device, dtype=torch.float32
        )
        param.copy_(draw.mul_(std))

    seen: set[int] = set()  # tied weights (lm_head = wte) are initialised once
    for name, module in model.named_modules():
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (Conv1D, nn.Linear, nn.Embedding)):
            if id(module.weight) in seen:
                continue
            seen.add(id(module.weight))
            normal_(module.weight, sigma_proj if name.endswith("c_proj") else sigma)
            bias = getattr(module, "bias", None)
            if bias is not None:
                nn.init.zeros_(bias)


def random_twin(config: Any, seed: int, device: torch.device | str = "cpu") -> Any:
    """A GPT-2 model with ``config`` and fresh weights from ``torch.Generator`` seeded ``seed``.

    ``transformers`` initialises from the global RNG while building the modules, so the
    modules are built inside :func:`torch.random.fork_rng` (the global state is
    restored afterwards) and then every weight is redrawn from the twin's own
    generator by :func:`init_gpt2_weights_`.

    Args:
        config: A ``GPT2Config`` (e.g. ``trained.config``).
        seed: The twin's seed.
        device: Where the model lives.

    Returns:
        A ``GPT2LMHeadModel`` in eval mode.
    """
    from transformers import GPT2LMHeadModel

    # A copy of the config: switching the twin's attention implementation (eager_attention)
    # must not switch the trained model's, which would otherwise share the object.
    with torch.random.fork_rng(devices=[]):
        model: Any = GPT2LMHeadModel(copy.deepcopy(config))
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    init_gpt2_weights_(model, generator)
    return model.to(device).eval()


# --- loading -------------------------------------------------------------------------------


_DOWNLOAD_HINT = (
    "download it once where there is network (e.g. `huggingface-cli download {name} "
    "--local-dir ~/models/{name}`) and point at the folder: --set model=~/models/{name}"
)


def load_pretrained(
    name_or_path: str | Path,
    device: torch.device | str = "cpu",
    *,
    allow_download: bool = True,
) -> Any:
    """Load a GPT-2-family checkpoint with its raw weights, in float32 and eval mode.

    Order of attempts: an existing local folder; else the Hugging Face cache
    (``local_files_only``, no network); else, if ``allow_download`` and the hub is not
    in offline mode (``HF_HUB_OFFLINE``), a download.

    Args:
        name_or_path: A folder holding ``config.json`` and weights (``save_pretrained``
            output), or a hub name such as ``"gpt2"``.
        device: Where the model lives.
        allow_download: Whether to try the network for a hub name missing from the cache.

    Returns:
        A ``GPT2LMHeadModel``.

    Raises:
        CheckpointLoadError: if the folder is missing or malformed, the model is not
            GPT-2-family, or a hub name is neither cached nor downloadable; the message
            says how to point at a local folder instead.
    """
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    # Its "Loading weights" progress bar would print over the CLI's own progress line.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointLoadError(
                f"model folder {path} has no config.json; give a folder written by "
                "save_pretrained (config.json + model.safetensors) or a hub name like 'gpt2'"
            )
        _check_gpt2_family(path, text)
        try:
            model = GPT2LMHeadModel.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as err:
            raise CheckpointLoadError(f"model folder {path} cannot be loaded: {err}") from None
    elif _looks_like_path(text):
        raise CheckpointLoadError(
            f"model folder {path} does not exist; give an existing folder written by "
            "save_pretrained, a hub name like 'gpt2', or 'offline-default'"
        )
    else:
        model = _load_from_hub(text, allow_download)
    loaded: Any = model
    return loaded.float().to(device).eval()


#: Seconds to wait for a TCP connection to the hub before calling it unreachable.
HUB_CONNECT_TIMEOUT = 3.0


def check_hub_model(name: str, *, allow_download: bool = True) -> None:
    """Fail in seconds, before a run starts, when a hub model name cannot be loaded.

    A folder, a path-like name or ``offline-default`` is left to the loader. A hub
    name passes when its ``config.json`` is in the Hugging Face cache, or when
    downloads are allowed, ``HF_HUB_OFFLINE`` is not set and the hub answers a TCP
    connection within :data:`HUB_CONNECT_TIMEOUT` seconds (rather than the minute of
    retries a download attempt makes with no network).

    Raises:
        ConfigError: for key ``model``, saying why and how to point at a folder.
    """
    import socket
    from urllib.parse import urlparse

    from workbench.core.errors import ConfigError

    if name == "offline-default" or _looks_like_path(name) or Path(name).expanduser().is_dir():
        return
    try:
        from huggingface_hub import constants as hub_constants
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return  # the loader will say that transformers is missing
    cached = try_to_load_from_cache(name, "config.json")
    if isinstance(cached, str):
        return
    hint = _DOWNLOAD_HINT.format(name=name)
    if not allow_download or hub_constants.is_offline_mode():
        why = "HF_HUB_OFFLINE is set" if allow_download else "downloads are turned off"
        raise ConfigError("model", name, f"a cached model or a folder ({why}); {hint}")
    endpoint = urlparse(hub_constants.ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme != "http" else 80)
    try:
        socket.create_connection((host, port), timeout=HUB_CONNECT_TIMEOUT).close()
    except OSError as err:
        raise ConfigError(
            "model", name, f"a cached model or a folder: {host} cannot be reached ({err}); {hint}"
        ) from None


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1


def _check_gpt2_family(folder: Path, text: str) -> None:
    import json

    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get(
            "model_type"
        )
    except (OSError, ValueError) as err:
        raise CheckpointLoadError(f"{folder / 'config.json'} cannot be read: {err}") from None
    if model_type != "gpt2":
        raise CheckpointLoadError(
            f"model {text!r} has model_type {model_type!r}; this lab needs a GPT-2-family "
            "checkpoint (model_type 'gpt2', e.g. gpt2, gpt2-medium, distilgpt2)"
        )


def _load_from_hub(name: str, allow_download: bool) -> Any:
    from huggingface_hub import constants as hub_constants
    from transformers import GPT2LMHeadModel

    try:
        return GPT2LMHeadModel.from_pretrained(name, local_files_only=True)
    except OSError:
        pass  # not in the cache; maybe downloadable
    hint = _DOWNLOAD_HINT.format(name=name)
    if not allow_download or hub_constants.is_offline_mode():
        why = "HF_HUB_OFFLINE is set" if allow_download else "downloads were turned off"
        raise CheckpointLoadError(
            f"model {name!r} is not in the Hugging Face cache and {why}; {hint}"
        )
    log.info("model %r is not cached; downloading it from the Hugging Face hub", name)
    try:
        return GPT2LMHeadModel.from_pretrained(name)
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointLoadError(
            f"model {name!r} could not be downloaded ({first_line}); {hint}"
        ) from None


# --- running the model ---------------------------------------------------------------------


@dataclass(frozen=True)
class TokenBatch:
    """A batch of token sequences and the positions to read from each.

    Attributes:
        input_ids: ``(batch, seq)`` token ids (long).
        positions: ``(batch, n_pos)`` positions in ``[0, seq)`` to keep from each
            sequence; sampling a few positions per sequence keeps the samples close to
            independent (tokens of one sequence are correlated).
    """

    input_ids: Tensor
    positions: Tensor

    def __post_init__(self) -> None:
        if self.input_ids.ndim != 2 or self.positions.ndim != 2:
            raise ValueError(
                "input_ids must be (batch, seq) and positions (batch, n_pos); got "
                f"{tuple(self.input_ids.shape)} and {tuple(self.positions.shape)}"
            )
        if self.input_ids.shape[0] != self.positions.shape[0]:
            raise ValueError(
                f"input_ids has {self.input_ids.shape[0]} sequences but positions has "
                f"{self.positions.shape[0]} rows"
            )

    @property
    def n_tokens(self) -> int:
        """Number of sampled token positions, ``batch * n_pos``."""
        return int(self.positions.numel())


def _layer_norm_for(transformer: Any, name: str) -> Any:
    layer, kind = parse_hook_name(name)
    n_layer = len(transformer.h)
    if layer >= n_layer:
        raise ValueError(f"hook {name!r} is past the last block ({n_layer} blocks)")
    if kind == "hook_resid_pre":
        return transformer.h[layer].ln_1
    if kind == "hook_resid_mid":
        return transformer.h[layer].ln_2
    if layer != n_layer - 1:
        raise ValueError(
            f"hook {name!r}: only the last block's resid_post is a hook point here; "
            f"blocks.{layer}.hook_resid_post is blocks.{layer + 1}.hook_resid_pre"
        )
    return transformer.ln_f


def _transformer(model: nn.Module) -> Any:
    """The ``GPT2Model`` inside a ``GPT2LMHeadModel`` (or the model itself)."""
    inner = getattr(model, "transformer", model)
    if not hasattr(inner, "h") or not hasattr(inner, "ln_f"):
        raise ValueError(f"{type(model).__name__} is not a GPT-2 model (no .h blocks / .ln_f)")
    return inner


@contextlib.contextmanager
def _capture(
    transformer: Any,
    names: Sequence[str],
    select: Callable[[Tensor], Tensor],
) -> Iterator[dict[str, Tensor]]:
    """Register pre-hooks on the layer norms that read each hook point; remove them after."""
    store: dict[str, Tensor] = {}
    handles = []

    def make_hook(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def hook(_module: nn.Module, args: tuple[Any, ...]) -> None:
            store[name] = select(args[0])

        return hook

    try:
        for name in names:
            handles.append(
                _layer_norm_for(transformer, name).register_forward_pre_hook(make_hook(name))
            )
        yield store
    finally:
        for handle in handles:
            handle.remove()


def residual_stream(
    model: nn.Module,
    input_ids: Tensor,
    *,
    names: Sequence[str] | None = None,
    positions: Tensor | None = None,
) -> dict[str, Tensor]:
    """Residual-stream activations at the named hook points, from one forward pass.

    Runs only the transformer body (no LM head). Gradients are not tracked.

    Args:
        model: A GPT-2 model.
        input_ids: ``(batch, seq)`` token ids on the model's device.
        names: Hook points; all of :func:`residual_hook_names` when ``None``.
        positions: ``(batch, n_pos)`` positions to keep, or ``None`` for all.

    Returns:
        ``{name: acts}`` with ``acts: (batch, seq, d_model)`` when ``positions`` is
        ``None``, else ``(batch, n_pos, d_model)``, in the model's dtype.
    """
    transformer = _transformer(model)
    if names is None:
        names = residual_hook_names(len(transformer.h))
    if positions is None:

        def select(acts: Tensor) -> Tensor:
            return acts.detach()

    else:
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)[:, None]

        def select(acts: Tensor) -> Tensor:
            return acts.detach()[rows, positions]  # (batch, n_pos, d_model)

    with torch.no_grad(), _capture(transformer, names, select) as store:
        transformer(input_ids=input_ids)
    return {name: store[name] for name in names}


def collect_residual_stream(
    models: Sequence[nn.Module],
    batches: Iterable[TokenBatch],
    names: Sequence[str],
    device: torch.device | str,
) -> Iterator[tuple[TokenBatch, list[dict[str, Tensor]]]]:
    """Stream residual activations of several models over the same token batches.

    Only one batch of activations exists at a time, so memory does not grow with the
    number of tokens; the caller folds each batch into a streaming accumulator.

    Args:
        models: The models to run (e.g. ``(trained, twin)``), all on ``device``.
        batches: Token batches (any device; moved to ``device``).
        names: Hook points to read.
        device: The models' device.

    Yields:
        ``(batch, acts)`` where ``acts[m][name]: (n_pos * batch, d_model)`` for model ``m``,
        rows *position-major*: row ``slot * batch + sequence``. To keep a sequence's tokens
        in one jackknife group, pass the accumulators explicit groups, e.g.
        ``groups = (first_sequence + arange(batch)).remainder(G).repeat(n_pos)``.
    """
    for batch in batches:
        ids = batch.input_ids.to(device)
        pos = batch.positions.to(device)
        acts = []
        for model in models:
            stream = residual_stream(model, ids, names=names, positions=pos)
            # (batch, n_pos, d) -> (n_pos, batch, d) -> (n_pos * batch, d)
            acts.append({k: v.transpose(0, 1).reshape(-1, v.shape[-1]) for k, v in stream.items()})
        yield batch, acts


def embed_tokens(model: nn.Module, input_ids: Tensor) -> Tensor:
    """``blocks.0.hook_resid_pre``: token plus position embedding, ``(batch, seq, d_model)``."""
    transformer = _transformer(model)
    pos = torch.arange(input_ids.shape[-1], device=input_ids.device)
    embedded: Tensor = transformer.wte(input_ids) + transformer.wpe(pos)
    return embedded


def resid_post_from_resid_pre0(model: nn.Module, resid_pre0: Tensor) -> Tensor:
    """The last ``resid_post`` as a function of the first ``resid_pre``: ``(seq, d) -> (seq, d)``.

    This is the map whose Jacobian the lab studies. The model adds position
    embeddings to ``inputs_embeds``, so they are subtracted first; the forward pass is
    then the model's own (causal mask, attention, MLPs) and the output is read at the
    input of ``ln_f``. It is a pure function of ``resid_pre0`` and works inside
    ``torch.func`` transforms (use :func:`eager_attention` for forward-mode ``jvp``).

    Args:
        model: A GPT-2 model in eval mode.
        resid_pre0: ``(seq, d_model)`` one sequence's ``blocks.0.hook_resid_pre``.

    Returns:
        ``(seq, d_model)`` ``blocks.{L-1}.hook_resid_post``.
    """
    transformer = _transformer(model)
    n_layer = len(transformer.h)
    last = hook_name(n_layer - 1, "hook_resid_post")
    seq = resid_pre0.shape[0]
    pos = torch.arange(seq, device=resid_pre0.device)
    inputs_embeds = (resid_pre0 - transformer.wpe(pos))[None]  # (1, seq, d_model)
    with _capture(transformer, [last], lambda acts: acts) as store:
        transformer(inputs_embeds=inputs_embeds)
    return store[last][0]


@contextlib.contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Run the model with the plain (eager) attention inside the block.

    PyTorch's fused ``scaled_dot_product_attention`` has no forward-mode derivative on
    CPU and no ``vmap`` rule for its backward, which the Jacobian code needs; the eager
    path is the same maths with matmul and softmax.
    """
    config: Any = model.config
    before = config._attn_implementation
    setter: Callable[[str], None] | None = getattr(model, "set_attn_implementation", None)
    try:
        if before != "eager":
            if setter is not None:
                setter("eager")
            else:  # older transformers read the attribute at forward time
                config._attn_implementation = "eager"
        yield
    finally:
        if config._attn_implementation != before:
            if setter is not None:
                setter(before)
            else:
                config._attn_implementation = before
