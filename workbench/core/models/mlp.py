"""A seed ensemble of one MLP architecture, stored as stacked tensors.

Every seed's parameters sit in one flat buffer ``params: (seed, n_params)``; each
layer's ``weight: (seed, d_out, d_in)`` and ``bias: (seed, d_out)`` are views into it
(the ``nn.Linear`` convention, stacked over seeds). One buffer lets a batched
optimiser update all seeds with a handful of tensor ops, with a per-seed mask that
broadcasts as ``(seed, 1)``.

Layer ``l`` (1-based) computes::

    pre_l  = a_{l-1} W_lᵀ + b_l        (seed, batch, d_l)
    post_l = φ(pre_l)                  hidden layers, φ ∈ ACTIVATIONS
    post_L = pre_L                     the output layer is linear

with ``a_0 = x``. :func:`backward` gives the exact gradient of a per-seed loss by the
chain rule, without autograd: on a CPU the bookkeeping of autograd costs more than
the arithmetic of these tiny layers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.core.choices import ACTIVATIONS

__all__ = [
    "ACTIVATIONS",
    "EnsembleMLP",
    "ForwardCache",
    "LayerActivations",
    "LayerParams",
    "backward",
    "forward_with_cache",
    "init_mlp",
    "layer_activations",
    "n_params_of",
]

# ACTIVATIONS (from workbench.core.choices, so configs name them without torch): the hidden-layer
# nonlinearities; gelu is the exact (erf) form, as ``nn.GELU()``; leaky-relu is
# ``max(x, LEAKY_SLOPE·x)`` (invertible, as ``nn.LeakyReLU()``); linear is the identity.

#: Negative-side slope of ``leaky-relu`` (``nn.LeakyReLU``'s default).
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class LayerParams:
    """One layer's parameters for every seed (views into the model's flat buffer).

    Attributes:
        weight: ``(seed, d_out, d_in)``.
        bias: ``(seed, d_out)``.
    """

    weight: Tensor
    bias: Tensor


@dataclass(frozen=True)
class LayerActivations:
    """One layer's activations for every seed on one input batch.

    Attributes:
        pre: Pre-activation ``a_{l-1} W_lᵀ + b_l``, shape ``(seed, batch, d_out)``.
        post: ``φ(pre)`` for hidden layers; the very same tensor as ``pre`` for the
            linear output layer. Shape ``(seed, batch, d_out)``.
    """

    pre: Tensor
    post: Tensor


@dataclass(frozen=True)
class ForwardCache:
    """What :func:`backward` needs from a forward pass.

    Attributes:
        inputs: Per layer, the input it saw: ``x`` broadcast to ``(seed, batch, d_in)``
            for the first layer, then the previous layer's ``post``.
        pre: Per layer, its pre-activation ``(seed, batch, d_out)`` (narrow layers
            may be transposed, non-contiguous views).
        post: Per layer, its post-activation ``(seed, batch, d_out)``.
        weights: Per layer, the contiguous weight copy used by the pass.
    """

    inputs: tuple[Tensor, ...]
    pre: tuple[Tensor, ...]
    post: tuple[Tensor, ...]
    weights: tuple[Tensor, ...]

    @property
    def output(self) -> Tensor:
        """The network output ``(seed, batch, d_out)``."""
        return self.post[-1]


class EnsembleMLP:
    """``n_seeds`` MLPs of one architecture, held as one flat parameter buffer.

    Args:
        params: ``(seed, n_params)`` flat parameters, laid out layer by layer as
            ``[W_1 (row-major d_1×d_0), b_1, W_2, b_2, ...]`` for each seed. The model
            keeps this tensor (no copy), so in-place updates to it are seen by the
            model.
        sizes: Layer widths including input and output, ``(d_in, *hidden, d_out)``.
        activation: One of :data:`ACTIVATIONS`, used by every hidden layer.
        seeds: The integer seed that initialised each row (for reproducibility and
            checkpoints); defaults to ``0 .. n_seeds-1``.

    Raises:
        ValueError: If the shapes do not agree or the activation is unknown.
    """

    def __init__(
        self,
        params: Tensor,
        sizes: Sequence[int],
        activation: str,
        seeds: Sequence[int] | None = None,
    ) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(
                f"sizes must be (d_in, *hidden, d_out) with every width >= 1, got {sizes}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is unknown; use one of {ACTIVATIONS}")
        if params.ndim != 2 or params.shape[1] != n_params_of(sizes):
            raise ValueError(
                f"params must be (seed, {n_params_of(sizes)}) for sizes {sizes}, "
                f"got {tuple(params.shape)}"
            )
        n_seeds = params.shape[0]
        seeds = tuple(range(n_seeds)) if seeds is None else tuple(int(s) for s in seeds)
        if len(seeds) != n_seeds:
            raise ValueError(f"got {len(seeds)} seeds for {n_seeds} parameter rows")
        self.params = params
        self.sizes = sizes
        self.activation = activation
        self.seeds = seeds
        self.layers = _layer_views(params, sizes)

    @property
    def n_seeds(self) -> int:
        """Number of seeds (networks) in the ensemble."""
        return int(self.params.shape[0])

    @property
    def n_layers(self) -> int:
        """Number of linear layers, the output layer included."""
        return len(self.layers)

    @property
    def device(self) -> torch.device:
        """Device holding the parameters."""
        return self.params.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the parameters."""
        return self.params.dtype

    def forward(self, x: Tensor) -> Tensor:
        """Run every seed on ``x``.

        Args:
            x: ``(batch, d_in)`` shared by all seeds, or ``(seed, batch, d_in)``.

        Returns:
            ``(seed, batch, d_out)``.
        """
        return forward_with_cache(self, x).output.contiguous()

    __call__ = forward

    def select(self, indices: Sequence[int]) -> EnsembleMLP:
        """A new ensemble holding copies of the seeds at ``indices`` (row positions)."""
        index = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        return EnsembleMLP(
            self.params.index_select(0, index),
            self.sizes,
            self.activation,
            [self.seeds[i] for i in indices],
        )

    def to(self, device: torch.device | str) -> EnsembleMLP:
        """A copy on ``device`` (the same object if it is already there)."""
        if self.params.device == torch.device(device):
            return self
        return EnsembleMLP(self.params.to(device), self.sizes, self.activation, self.seeds)

    def state_dict(self) -> dict[str, Tensor]:
        """Contiguous copies keyed ``layers.{i}.weight`` / ``layers.{i}.bias`` (0-based)."""
        out: dict[str, Tensor] = {}
        for i, layer in enumerate(self.layers):
            out[f"layers.{i}.weight"] = layer.weight.contiguous()
            out[f"layers.{i}.bias"] = layer.bias.contiguous()
        return out

    @classmethod
    def from_layers(
        cls,
        weights: Sequence[Tensor],
        biases: Sequence[Tensor],
        activation: str,
        seeds: Sequence[int] | None = None,
    ) -> EnsembleMLP:
        """Pack per-layer ``weight: (seed, d_out, d_in)``, ``bias: (seed, d_out)`` tensors.

        Raises:
            ValueError: If the layers do not chain (``d_in`` of one layer is not
                ``d_out`` of the previous) or disagree on the number of seeds.
        """
        if len(weights) == 0 or len(weights) != len(biases):
            raise ValueError(
                f"need one bias per weight and at least one layer, "
                f"got {len(weights)} weights and {len(biases)} biases"
            )
        n_seeds = weights[0].shape[0]
        sizes = [int(weights[0].shape[2])]
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            if w.ndim != 3 or b.ndim != 2 or w.shape[0] != n_seeds or b.shape[0] != n_seeds:
                raise ValueError(
                    f"layer {i}: weight must be (seed, d_out, d_in) and bias (seed, d_out) "
                    f"with {n_seeds} seeds, got {tuple(w.shape)} and {tuple(b.shape)}"
                )
            if w.shape[2] != sizes[-1] or b.shape[1] != w.shape[1]:
                raise ValueError(
                    f"layer {i}: weight {tuple(w.shape)} and bias {tuple(b.shape)} do not "
                    f"follow a layer of width {sizes[-1]}"
                )
            sizes.append(int(w.shape[1]))
        flat = torch.cat(
            [t.reshape(n_seeds, -1) for pair in zip(weights, biases, strict=True) for t in pair],
            dim=1,
        )
        return cls(flat, sizes, activation, seeds)


def n_params_of(sizes: Sequence[int]) -> int:
    """Parameters per seed of an MLP with widths ``sizes``: Σ_l d_l (d_{l-1} + 1)."""
    return sum(d_out * (d_in + 1) for d_in, d_out in itertools.pairwise(sizes))


def init_mlp(
    sizes: Sequence[int],
    seeds: Sequence[int],
    activation: str = "relu",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> EnsembleMLP:
    """Initialise one MLP per seed, each from its own ``torch.Generator``.

    Every weight and bias is drawn from U(-1/√d_in, 1/√d_in), the ``nn.Linear``
    default (kaiming-uniform with a = √5 gives bound √(6/((1+a²) d_in)) = 1/√d_in).
    Seed ``s`` uses ``torch.Generator("cpu").manual_seed(s)`` and draws layer by layer,
    weight then bias, in float64 on the CPU before casting and moving. So a seed's
    network is identical whatever the other seeds in the batch, the device or the
    dtype (up to the final rounding).

    Args:
        sizes: ``(d_in, *hidden, d_out)``.
        seeds: One integer per network; duplicates give identical networks.
        activation: One of :data:`ACTIVATIONS`.
        device: Where the parameters live.
        dtype: Parameter dtype.

    Returns:
        The ensemble, with ``params: (len(seeds), n_params)``.

    Raises:
        ValueError: If ``seeds`` is empty or a seed is negative.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds[:5]}")
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must be (d_in, *hidden, d_out) with every width >= 1, got {sizes}")
    flat = torch.empty(len(seeds), n_params_of(sizes), dtype=torch.float64)
    # A Python loop over seeds for *initialisation only*: per-seed generators are what
    # make seed k reproducible alone. It costs one rand() per seed, about 10-25 µs
    # (2,000 seeds in under 0.1 s; benchmarks/bench_ensemble.py prints it).
    for row, seed in enumerate(seeds):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        torch.rand(flat.shape[1], generator=gen, dtype=torch.float64, out=flat[row])
    # Map U(0, 1) to U(-bound, bound), with each layer's own bound 1/√d_in.
    bounds = torch.cat(
        [
            torch.full((d_out * (d_in + 1),), d_in**-0.5, dtype=torch.float64)
            for d_in, d_out in itertools.pairwise(sizes)
        ]
    )
    flat.mul_(2.0).sub_(1.0).mul_(bounds)
    return EnsembleMLP(flat.to(device=device, dtype=dtype), sizes, activation, seeds)


def forward_with_cache(model: EnsembleMLP, x: Tensor) -> ForwardCache:
    """Forward pass that keeps every layer's input, pre- and post-activation.

    Args:
        model: The ensemble.
        x: ``(batch, d_in)`` shared by all seeds, or ``(seed, batch, d_in)``.

    Returns:
        The cache; ``cache.output`` is ``(seed, batch, d_out)``.

    Raises:
        ValueError: If ``x`` has the wrong shape.
    """
    a = _broadcast_input(model, x)
    inputs: list[Tensor] = []
    pres: list[Tensor] = []
    posts: list[Tensor] = []
    weights: list[Tensor] = []
    last = model.n_layers - 1
    for i, layer in enumerate(model.layers):
        # A contiguous copy of the strided view costs a few µs and makes bmm ~1.5×
        # faster than reading the view directly.
        w = layer.weight.contiguous()
        pre = _affine(a, w, layer.bias)  # (seed, batch, d_out)
        post = pre if i == last else _activate(pre, model.activation)
        inputs.append(a)
        pres.append(pre)
        posts.append(post)
        weights.append(w)
        a = post
    return ForwardCache(tuple(inputs), tuple(pres), tuple(posts), tuple(weights))


def layer_activations(model: EnsembleMLP, x: Tensor) -> list[LayerActivations]:
    """Every layer's pre- and post-activation for an input batch.

    Args:
        model: The ensemble.
        x: ``(batch, d_in)`` shared by all seeds, or ``(seed, batch, d_in)``.

    Returns:
        One :class:`LayerActivations` per linear layer, input side first, each with
        ``pre`` and ``post`` of shape ``(seed, batch, d_out)``; for the output layer
        ``post is pre``.
    """
    with torch.no_grad():
        cache = forward_with_cache(model, x)
    out = []
    for pre, post in zip(cache.pre, cache.post, strict=True):
        # The training pass may leave narrow layers as transposed views; hand out
        # contiguous tensors (and keep ``post is pre`` for the linear output).
        pre_c = pre.contiguous()
        out.append(LayerActivations(pre_c, pre_c if post is pre else post.contiguous()))
    return out


def backward(model: EnsembleMLP, cache: ForwardCache, grad_output: Tensor) -> Tensor:
    """Exact gradient of a per-seed loss with respect to the flat parameters.

    With δ_L = ∂L/∂pre_L (``grad_output``), for l = L .. 1::

        ∂L/∂W_l = δ_lᵀ a_{l-1}            (seed, d_l, d_{l-1})
        ∂L/∂b_l = Σ_batch δ_l             (seed, d_l)
        δ_{l-1} = (δ_l W_l) ⊙ φ'(pre_{l-1})

    Seeds never mix, so this is the gradient of Σ_seed L_seed and row ``s`` is the
    gradient of seed ``s``'s own loss.

    Args:
        model: The ensemble the cache came from.
        cache: From :func:`forward_with_cache`.
        grad_output: ∂L/∂output, ``(seed, batch, d_out)``.

    Returns:
        ``(seed, n_params)``, laid out like ``model.params``.
    """
    grads: list[Tensor] = []
    delta = grad_output
    for i in range(model.n_layers - 1, -1, -1):
        grad_b = delta.sum(dim=1)  # (seed, d_l)
        grad_w = _matmul(delta.transpose(1, 2), cache.inputs[i])  # (seed, d_l, d_{l-1})
        grads.append(grad_b)
        grads.append(grad_w.reshape(model.n_seeds, -1))
        if i > 0:
            delta = _matmul(delta, cache.weights[i])  # (seed, batch, d_{l-1})
            delta = _activation_backward(delta, cache.pre[i - 1], cache.post[i - 1], model)
    grads.reverse()  # back to [W_1, b_1, W_2, b_2, ...]
    return torch.cat(grads, dim=1)


#: Batched GEMMs whose output has fewer columns than this (and fewer than rows) are
#: computed transposed. MKL's batched small GEMM is several times slower for very
#: narrow outputs: on 2 CPU threads, 200 products (16×32)·(32×5) take ~170 µs but
#: the transposed (5×32)·(32×16) ~30 µs. cuBLAS does not care either way.
_NARROW = 8


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """Batched product ``a @ b`` of ``(seed, m, k)`` and ``(seed, k, n)``, the fast way round.

    k = 1 is an outer product, a broadcast multiply; a narrow output is computed
    as ``(bᵀ aᵀ)ᵀ`` (a transposed view; callers never need it contiguous).
    """
    m, k, n = a.shape[1], a.shape[2], b.shape[2]
    if k == 1:
        return a * b
    if n < min(m, _NARROW):
        return torch.bmm(b.transpose(1, 2), a.transpose(1, 2)).transpose(1, 2)
    return torch.bmm(a, b)


def _affine(a: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``a Wᵀ + b`` per seed: ``(seed, batch, d_in)``, ``(seed, d_out, d_in)``, ``(seed, d_out)``.

    The bias is fused into the product (``baddbmm``), oriented as in :func:`_matmul`.
    """
    m, k, n = a.shape[1], a.shape[2], weight.shape[1]
    if k == 1:
        return a * weight.transpose(1, 2) + bias.unsqueeze(1)
    if n < min(m, _NARROW):
        # (seed, d_out, batch), returned as a transposed view (seed, batch, d_out).
        return torch.baddbmm(bias.unsqueeze(2), weight, a.transpose(1, 2)).transpose(1, 2)
    return torch.baddbmm(bias.unsqueeze(1), a, weight.transpose(1, 2))


def _layer_views(params: Tensor, sizes: tuple[int, ...]) -> tuple[LayerParams, ...]:
    """Per-layer weight and bias views into the flat ``(seed, n_params)`` buffer."""
    n_seeds = params.shape[0]
    layers = []
    offset = 0
    for d_in, d_out in itertools.pairwise(sizes):
        weight = params[:, offset : offset + d_out * d_in].view(n_seeds, d_out, d_in)
        offset += d_out * d_in
        bias = params[:, offset : offset + d_out]
        offset += d_out
        layers.append(LayerParams(weight, bias))
    return tuple(layers)


def _broadcast_input(model: EnsembleMLP, x: Tensor) -> Tensor:
    """``x`` as ``(seed, batch, d_in)``: a stride-0 view when shared by all seeds."""
    d_in = model.sizes[0]
    if x.ndim == 2 and x.shape[1] == d_in:
        return x.to(model.dtype).unsqueeze(0).expand(model.n_seeds, -1, -1)
    if x.ndim == 3 and x.shape[0] == model.n_seeds and x.shape[2] == d_in:
        return x.to(model.dtype)
    raise ValueError(
        f"x must be (batch, {d_in}) or ({model.n_seeds}, batch, {d_in}), got {tuple(x.shape)}"
    )


def _activate(pre: Tensor, activation: str) -> Tensor:
    """φ(pre) for a hidden layer."""
    if activation == "relu":
        return torch.relu(pre)
    if activation == "tanh":
        return torch.tanh(pre)
    if activation == "leaky-relu":
        return torch.nn.functional.leaky_relu(pre, LEAKY_SLOPE)
    if activation == "linear":
        return pre.clone()  # a new tensor, so ``post is pre`` still marks only the output layer
    return torch.nn.functional.gelu(pre)


def _activation_backward(grad: Tensor, pre: Tensor, post: Tensor, model: EnsembleMLP) -> Tensor:
    """grad ⊙ φ'(pre), using the fused kernels autograd itself uses.

    relu: φ' = 1[pre > 0]; tanh: φ' = 1 - post²; leaky-relu: φ' = 1[pre > 0] + s·1[pre <= 0];
    linear: φ' = 1; gelu: φ' = Φ(pre) + pre·𝜙(pre),
    with Φ and 𝜙 the standard normal CDF and density.
    """
    aten = torch.ops.aten
    out: Tensor
    if model.activation == "relu":
        out = aten.threshold_backward(grad, post, 0.0)
    elif model.activation == "tanh":
        out = aten.tanh_backward(grad, post)
    elif model.activation == "leaky-relu":
        out = aten.leaky_relu_backward(grad, pre, LEAKY_SLOPE, False)
    elif model.activation == "linear":
        out = grad
    else:
        out = aten.gelu_backward(grad, pre)
    return out
