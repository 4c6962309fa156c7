"""The lab contract: what a lab declares and what its steps may do.

A lab is a small, rigorous experiment. It declares

* a name, a title and a paragraph of description;
* a typed config: a frozen dataclass whose fields use :func:`workbench.core.config.option`;
* an ordered tuple of :class:`Step` s, each with a title, a Markdown explanation,
  the function that runs it, what it produces and how to view it.

A lab's definition is cheap to import: ``workbench labs`` lists and describes every lab
without importing torch or scipy. So a lab names its step functions by
``"module:function"`` with :class:`LazyStep` (imported on the first call, then cached)
rather than importing its steps module, and its config module imports only names.

A lab module exposes ``LAB = Lab(...)`` and registers it under the entry-point
group ``workbench.labs``; the built-in labs do exactly the same.

Steps never print and never touch the UI. They talk to the world through the
:class:`RunContext` they are given: they save arrays, append metrics, set
headline results and report progress. The run folder is the source of truth; the
CLI's progress bar and the TUI's live panels are both readers of it.

A minimal lab::

    @dataclass(frozen=True)
    class Config:
        seeds: int = option(20, help="networks in the ensemble", ge=1)

    def train(ctx: RunContext) -> None:
        for i in range(100):
            ctx.progress(i + 1, 100)
        ctx.set_result("loss/final", 0.01)

    LAB = Lab(
        name="demo", title="Demo", description="...", config_cls=Config,
        steps=(Step("train", "Train", "Trains the nets.", train, produces=("loss/final",)),),
    )

The same step, with ``train`` in ``demo/steps.py`` imported only when the step runs::

    Step("train", "Train", "Trains the nets.", LazyStep(".steps:train", __name__))
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from workbench.core.config import build_config, config_fields
from workbench.core.errors import LabNotFoundError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from workbench.core.runs import Project, RunWriter

__all__ = [
    "Cancelled",
    "Lab",
    "LazyStep",
    "MetricsLogged",
    "ProgressEvent",
    "RunContext",
    "RunEvent",
    "Step",
    "StepFinished",
    "StepNotFoundError",
    "StepStarted",
    "View",
]

ConfigT = TypeVar("ConfigT")

ViewKind = Literal["heatmap", "spectrum", "curve", "table", "text", "scatter"]


@dataclass(frozen=True)
class View:
    """How one output of a step is shown, in ``workbench show`` and the TUI.

    Attributes:
        kind: ``heatmap`` (a 2-D array), ``spectrum`` (descending eigenvalues on
            log-log axes), ``curve`` (a 1-D array, or 2-D with one curve per row),
            ``table`` (the ``[results]`` keys under a prefix), ``text`` (a
            Markdown file the step wrote with :meth:`RunContext.write_text`) or ``scatter``
            (a ``(point, 3)`` array of x, y and group index, whose ``coord`` labels name x
            and y and whose ``task`` labels name the groups).
        title: Caption shown above the view.
        source: Array name for heatmap/spectrum/curve (glob patterns such as
            ``"*/ir_seed_seed/layer1"`` are allowed), a results-key prefix for a
            table, or a text name for text.
        x_label: Label of the x axis (columns of a heatmap).
        y_label: Label of the y axis (rows of a heatmap).
    """

    kind: ViewKind
    title: str
    source: str
    x_label: str = ""
    y_label: str = ""


class StepNotFoundError(LabNotFoundError):
    """A :class:`LazyStep` names a module or function that cannot be imported."""


class LazyStep:
    """A step function named by ``"module:function"``, imported on its first call.

    The module is imported, the function looked up and checked to be callable, and the result
    cached, the first time the step runs (or :meth:`resolve` is called), so a lab's definition
    never imports what its steps need (torch, scipy). Calling it is calling the function.

    Args:
        target: ``"package.module:function"``; a leading dot (``".steps:train"``) makes the
            module relative to ``package``, as in :func:`importlib.import_module`. The function
            may be dotted (``"steps:Trainer.run"``).
        package: The package a relative target is relative to, usually the lab's ``__name__``.

    Raises:
        ValueError: When ``target`` is not of the form ``module:function``, or is relative
            without a ``package`` (a mistake in the lab's code, found when it is defined).
    """

    __slots__ = ("_function", "module", "qualname")

    def __init__(self, target: str, package: str | None = None) -> None:
        module, sep, qualname = target.partition(":")
        if not sep or not module.strip(".") or not qualname or ":" in qualname:
            raise ValueError(f"step target {target!r} must look like 'package.module:function'")
        if module.startswith("."):
            if not package:
                raise ValueError(f"relative step target {target!r} needs package=__name__")
            # Resolve now (string arithmetic only, no import) so that the target is absolute
            # in messages and in repr.
            module = importlib.util.resolve_name(module, package)
        self.module = module
        self.qualname = qualname
        self._function: Callable[[RunContext], None] | None = None

    @property
    def target(self) -> str:
        """The absolute ``"module:function"`` this step runs."""
        return f"{self.module}:{self.qualname}"

    def resolve(self) -> Callable[[RunContext], None]:
        """Import the module and return the function (cached after the first call).

        Raises:
            StepNotFoundError: Naming the target, when the module cannot be imported, has no
                such attribute, or the attribute is not callable.
        """
        if self._function is not None:
            return self._function
        try:
            obj: Any = importlib.import_module(self.module)
        except ImportError as err:
            raise StepNotFoundError(
                f"step function {self.target} cannot be loaded: module {self.module!r} "
                f"cannot be imported ({type(err).__name__}: {err})"
            ) from err
        for part in self.qualname.split("."):
            if not hasattr(obj, part):
                raise StepNotFoundError(
                    f"step function {self.target} cannot be loaded: "
                    f"{getattr(obj, '__name__', repr(obj))!r} has no attribute {part!r}"
                )
            obj = getattr(obj, part)
        if not callable(obj):
            raise StepNotFoundError(
                f"step function {self.target} is not callable (got {type(obj).__name__})"
            )
        function: Callable[[RunContext], None] = obj
        self._function = function
        return function

    def __call__(self, ctx: RunContext) -> None:
        self.resolve()(ctx)

    def __repr__(self) -> str:
        return f"LazyStep({self.target!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyStep) and other.target == self.target

    def __hash__(self) -> int:
        return hash(("LazyStep", self.target))

    def __reduce__(self) -> tuple[type[LazyStep], tuple[str]]:
        # Pickle by name (a sweep engine may send a lab to another process); never the cache.
        return (LazyStep, (self.target,))


@dataclass(frozen=True)
class Step:
    """One step of a lab.

    Attributes:
        key: Short stable identifier (``"train"``), used in run.toml and metrics.
        title: Human title (``"Train the ensembles"``).
        explanation: Markdown shown in the lab stepper before and after running.
        run: The function that does the work, given the run's context: a function, or a
            :class:`LazyStep` that imports it when the step first runs.
        produces: What the step writes (array names, results prefixes), in words
            a user can find in the run folder.
        views: How to look at what it produced.
    """

    key: str
    title: str
    explanation: str
    run: Callable[[RunContext], None]
    produces: tuple[str, ...] = ()
    views: tuple[View, ...] = ()


@dataclass(frozen=True)
class Lab(Generic[ConfigT]):
    """A lab: a named, configurable, ordered sequence of steps.

    Attributes:
        name: Registry name, lowercase with dashes (``"toy-tasks"``).
        title: One-line title.
        description: A paragraph of description (Markdown).
        config_cls: Frozen dataclass of the lab's config.
        steps: The steps, run in order.
        live_metrics: Metric keys (besides ``loss``) that the live panel plots while
            training, e.g. ``("live/ir_last_hidden",)``.
        headline: The ``[results]`` key shown in the runs table, if any.
        presets: Named partial configs (``{"quick": {"seeds": 8, "steps": 300}}``), chosen
            with ``--preset NAME``; values from ``--config`` and ``--set`` apply on top. Every
            lab has a ``quick`` preset that finishes in under 30 s on 2 CPU cores.
        check: Optional pre-run check of the config against the project (a ``from_run``
            that must name an existing run of the right lab, say). It raises
            :class:`~workbench.core.errors.ConfigError`; the runner calls it before making
            the run folder, so bad input makes no run and the CLI exits 2.

    A lab that wants a conclusion in plain words writes ``summary.md`` with
    :meth:`RunContext.write_text`; ``workbench show`` and the TUI display it.
    """

    name: str
    title: str
    description: str
    config_cls: type[ConfigT]
    steps: tuple[Step, ...]
    live_metrics: tuple[str, ...] = ()
    headline: str | None = None
    check: Callable[[ConfigT, Project], None] | None = None
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [s.key for s in self.steps]
        if len(set(keys)) != len(keys):
            raise ValueError(f"lab {self.name!r} has duplicate step keys: {keys}")

    def make_config(
        self, values: Mapping[str, Any] | None = None, *, source: str | None = None
    ) -> ConfigT:
        """Validate values (missing keys take defaults) into this lab's config."""
        return build_config(self.config_cls, values, source=source)

    def preset(self, name: str) -> dict[str, Any]:
        """The config values of preset ``name``.

        Raises:
            ConfigError: naming ``preset`` and the presets this lab has.
        """
        from workbench.core.errors import ConfigError

        if name not in self.presets:
            allowed = ", ".join(sorted(self.presets)) or "none (this lab has no presets)"
            raise ConfigError("preset", name, f"one of this lab's presets: {allowed}")
        return dict(self.presets[name])

    def resolve_steps(self) -> None:
        """Import every :class:`LazyStep`'s function now (the runner does, before a run folder).

        Raises:
            StepNotFoundError: Naming the first step function that cannot be loaded.
        """
        for s in self.steps:
            if isinstance(s.run, LazyStep):
                s.run.resolve()

    def step(self, key: str) -> Step:
        """Return the step with the given key."""
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(
            f"lab {self.name!r} has no step {key!r}; steps: {[s.key for s in self.steps]}"
        )

    def fields_help(self) -> str:
        """Plain-text table of config keys, for ``--help`` and error messages."""
        lines = []
        for spec in config_fields(self.config_cls):
            unit = f" [{spec.unit}]" if spec.unit else ""
            lines.append(
                f"  {spec.name} = {spec.default!r}{unit}\n      {spec.help}; {spec.allowed}"
            )
        return "\n".join(lines)


def seeds_of(config: Any) -> tuple[int, int]:
    """The seeds a config trains, as ``(first, count)``.

    Convention: a config with an integer ``seeds`` field trains seeds
    ``seed, seed + 1, ..., seed + seeds - 1`` where ``seed`` (default 0) is the
    first seed. Labs without ensembles train a single seed ``seed``. A config that
    trains another contiguous range (several ensembles, say) says so with a
    ``seed_range() -> (first, count)`` method.
    """
    seed_range = getattr(config, "seed_range", None)
    if callable(seed_range):
        first, count = seed_range()
        return int(first), int(count)
    first = int(getattr(config, "seed", 0))
    count = getattr(config, "seeds", 1)
    return first, int(count) if isinstance(count, int) else 1


# --- events: what a running lab reports, for progress bars and logs --------------------------


@dataclass(frozen=True)
class StepStarted:
    """A step began."""

    index: int
    key: str
    title: str
    n_steps: int


@dataclass(frozen=True)
class StepFinished:
    """A step ended successfully."""

    index: int
    key: str
    seconds: float


@dataclass(frozen=True)
class ProgressEvent:
    """Progress within the current step: ``done`` of ``total`` units."""

    step_key: str
    done: float
    total: float
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsLogged:
    """Metric records appended to the run's metrics file."""

    records: Sequence[Mapping[str, Any]]


RunEvent = StepStarted | StepFinished | ProgressEvent | MetricsLogged


class Cancelled(Exception):
    """Raised inside a step when the user cancelled the run."""


class RunContext:
    """What a step may use: the config, the device, and the run folder's writer.

    Attributes:
        config: The run's validated config.
        device: The torch device to compute on.
        run: The run folder writer (arrays, metrics, results, checkpoints).
        state: In-memory hand-off between steps of the same run (e.g. the trained
            models from the training step for the analysis steps).
        logger: A logger whose records also go to the run's ``log.txt``.
    """

    #: Progress is written to the run folder at most this often (seconds), so a
    #: tight training loop can call :meth:`progress` every step for free.
    progress_interval: float = 0.25

    def __init__(
        self,
        *,
        config: Any,
        device: torch.device,
        run: RunWriter,
        on_event: Callable[[RunEvent], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self.run = run
        self.state: dict[str, Any] = {}
        self.logger = logging.getLogger(f"workbench.run.{run.id}")
        self._on_event = on_event
        self._cancel = cancel or threading.Event()
        self._step_key = ""
        self._last_progress = 0.0

    # -- used by the runner -------------------------------------------------------------------

    def _enter_step(self, key: str) -> None:
        self._step_key = key
        self._last_progress = 0.0

    def emit(self, event: RunEvent) -> None:
        """Send an event to the listener (the CLI's progress bar), if any."""
        if self._on_event is not None:
            self._on_event(event)

    # -- for steps ----------------------------------------------------------------------------

    @property
    def project(self) -> Project:
        """The project this run belongs to (``<project>/runs/<id>``), e.g. to load ``from_run``."""
        from workbench.core.runs import Project

        return Project(self.run.path.parent.parent)

    @property
    def cancelled(self) -> bool:
        """True once the user asked the run to stop."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the user asked the run to stop."""
        if self._cancel.is_set():
            raise Cancelled()

    def progress(self, done: float, total: float, **info: Any) -> None:
        """Report progress within the current step (throttled; cheap to call often).

        ``info`` holds small live numbers for the progress line and the TUI, e.g.
        ``converged=180, diverged=0, steps_per_second=5400.0``.
        """
        self.check_cancelled()
        now = time.monotonic()
        if done < total and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        self.run.write_progress(self._step_key, done, total, info)
        self.emit(ProgressEvent(self._step_key, done, total, dict(info)))

    def log_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append metric records (one per logged step per seed) to ``metrics.jsonl``."""
        batch = list(records)
        if batch:
            self.run.append_metrics(batch)
            self.emit(MetricsLogged(batch))

    def set_result(self, key: str, value: float | int | str | bool) -> None:
        """Set one headline number under a namespaced key (``first-bit/entropy/layer2/mean``)."""
        self.run.set_results({key: value})

    def set_results(self, results: Mapping[str, float | int | str | bool]) -> None:
        """Set several headline numbers at once (one atomic write)."""
        self.run.set_results(results)

    def save_array(
        self,
        name: str,
        array: np.ndarray[Any, Any],
        *,
        axes: Sequence[str] = (),
        labels: Mapping[str, Sequence[str]] | None = None,
        description: str = "",
    ) -> None:
        """Save an array as ``arrays/<name>.npy`` (``/`` in the name makes sub-folders).

        Args:
            name: E.g. ``"first-bit/ir_seed_seed/layer1"``.
            array: Numeric array (never object dtype: it is loaded with allow_pickle=False).
            axes: One name per dimension, e.g. ``("seed", "seed")``.
            labels: Tick labels per axis name, e.g. ``{"layer": ["in", "h1", "out"]}``.
            description: One line shown next to the array.
        """
        self.run.save_array(name, array, axes=axes, labels=labels, description=description)

    def save_checkpoint(self, name: str, tensors: Mapping[str, torch.Tensor]) -> None:
        """Save tensors as ``checkpoints/<name>.safetensors``."""
        self.run.save_checkpoint(name, tensors)

    def write_text(self, name: str, text: str) -> None:
        """Write a Markdown report such as ``summary.md`` into the run folder."""
        self.run.write_text(name, text)
