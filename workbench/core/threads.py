"""How many CPU threads torch uses: chosen from the work and the machine, or set by the user.

Why a policy at all: torch's default is one intra-op thread per core. For the tiny
per-step ops of a small seed ensemble, two threads hand each other work through an
OpenMP barrier every op; on a quiet 2-core machine that is still 1.25-1.5x faster
than one thread, but as soon as another process runs on a core, every op waits for
the thread that lost its core, and a default run measured 8.5x slower than with
``OMP_NUM_THREADS=1`` (issue 11). So the automatic choice is

    threads = 1                                   if the work per op is small,
    threads = max(1, min(cores, cores - busy))    otherwise,

where ``cores`` are the cores this process may run on and ``busy`` is the number
of runnable threads of *other* processes right now (``/proc/loadavg`` field 4,
minus this process's own runnable threads; the 1-minute load average lags by a
minute, far too slow for a competitor that just started). The choice is made when
a training loop starts and re-made at every progress report, so a competitor that
starts mid-run costs at most one reporting interval.

The user overrides it with ``--threads N`` on ``workbench run`` / ``rerun`` (via
:func:`set_threads`) or the ``WORKBENCH_THREADS`` environment variable (``auto``
or an integer >= 1); the CLI takes precedence. Runs record the policy in
``run.toml`` ``[run].threads``. Results do not depend on the thread count beyond
the order of float reductions (tests/core/test_threads.py states the tolerance).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import ConfigError

__all__ = [
    "THREADS_ENV",
    "ThreadChoice",
    "apply_step_threads",
    "auto_threads",
    "available_cores",
    "busy_cores",
    "choose_threads",
    "parse_threads",
    "requested_threads",
    "set_threads",
    "thread_policy",
    "thread_scope",
]

log = logging.getLogger(__name__)

THREADS_ENV = "WORKBENCH_THREADS"

#: Multiply-adds per training step below which one thread is chosen whatever the
#: machine. A step is ~30 ops, and each op handed to a second thread costs a few µs
#: of OpenMP hand-off; at 2 M multiply-adds (~1 ms of arithmetic per step on one
#: core) that overhead is ~10%, so below it a second thread cannot win much. It is
#: an estimate: benchmarks/bench_ensemble.py prints the one- and two-thread times on
#: either side of it (16 seeds: 1.6 M, 200 seeds: 20 M), quiet and contended.
SMALL_WORK = 2_000_000

_override: int | None = None


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why.

    Attributes:
        threads: Intra-op threads for torch.
        source: ``--threads``, ``WORKBENCH_THREADS`` or ``auto``.
        reason: One line for the log, e.g. ``auto: 2 cores, 1 busy, 3.1e6 MACs/step``.
    """

    threads: int
    source: str
    reason: str


def parse_threads(value: object, source: str = THREADS_ENV) -> int | None:
    """``auto`` (or empty) is ``None``; otherwise an integer >= 1.

    Raises:
        ConfigError: Naming ``threads``, the value and what is allowed.
    """
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError("threads", value, f"auto or an integer >= 1 (from {source})")
    return n


def set_threads(n: int | None) -> None:
    """Fix the thread count for this process (``None`` goes back to the environment/auto)."""
    global _override
    if n is not None and n < 1:
        raise ConfigError("threads", n, "auto or an integer >= 1 (from --threads)")
    _override = n


def requested_threads() -> tuple[int | None, str]:
    """The user's request and where it came from: ``--threads``, the environment, or auto."""
    if _override is not None:
        return _override, "--threads"
    env = os.environ.get(THREADS_ENV)
    if env is not None and parse_threads(env) is not None:
        return parse_threads(env), THREADS_ENV
    return None, "auto"


def thread_policy() -> str | int:
    """What ``run.toml`` records: the fixed count, or ``"auto"``."""
    n, _ = requested_threads()
    return "auto" if n is None else n


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on every platform
        return max(1, os.cpu_count() or 1)


def busy_cores() -> int:
    """Runnable threads of other processes right now (0 where it cannot be read).

    ``/proc/loadavg``'s fourth field is ``runnable/total`` scheduling entities
    system-wide; this process's own runnable threads (``/proc/self/task/*/stat``
    state ``R``, the reader included) are subtracted.
    """
    try:
        runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    own = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            # The state follows the parenthesised name, which may contain spaces.
            own += stat.read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(0, runnable - max(own, 1))


def auto_threads(work: float, cores: int, busy: int) -> int:
    """The automatic choice (see the module docstring).

    Args:
        work: Multiply-adds per training step (or per op batch).
        cores: Cores available to this process.
        busy: Cores taken by other processes.
    """
    if work < SMALL_WORK:
        return 1
    return max(1, min(cores, cores - busy))


def choose_threads(work: float) -> ThreadChoice:
    """The thread count for ``work`` multiply-adds per step under the current policy."""
    n, source = requested_threads()
    if n is not None:
        return ThreadChoice(n, source, f"{source}: {n}")
    cores, busy = available_cores(), busy_cores()
    threads = auto_threads(work, cores, busy)
    return ThreadChoice(
        threads, "auto", f"auto: {cores} cores, {busy} busy, {work:.2g} multiply-adds per step"
    )


def apply_step_threads() -> ThreadChoice:
    """Set torch's threads (and numpy's BLAS threads) for a lab step's analysis work.

    Analysis works on large arrays, so the automatic choice is every core that no
    other process is using: one thread on a 2-core machine with a competitor.
    """
    import torch

    choice = choose_threads(float("inf"))
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    try:  # numpy's BLAS has its own pool, which OMP_NUM_THREADS would also have set
        from threadpoolctl import threadpool_limits

        threadpool_limits(choice.threads, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        pass
    log.info("threads for this step: %d (%s)", choice.threads, choice.reason)
    return choice


class _Scope:
    """The live choice inside :func:`thread_scope`; :meth:`refresh` re-decides."""

    def __init__(self, work: float) -> None:
        self.work = work
        self.choice = choose_threads(work)

    def apply(self) -> None:
        import torch

        if torch.get_num_threads() != self.choice.threads:
            torch.set_num_threads(self.choice.threads)

    def refresh(self) -> None:
        """Re-make an automatic choice (a competitor may have started or stopped)."""
        if self.choice.source != "auto":
            return
        choice = choose_threads(self.work)
        if choice.threads != self.choice.threads:
            log.info("threads %d -> %d (%s)", self.choice.threads, choice.threads, choice.reason)
        self.choice = choice
        self.apply()


@contextlib.contextmanager
def thread_scope(work: float) -> Iterator[_Scope]:
    """Run a block with the policy's thread count for ``work``, then restore torch's.

    Args:
        work: Multiply-adds per step of the block's inner loop.
    """
    import torch

    before = torch.get_num_threads()
    scope = _Scope(work)
    log.debug("threads %d (%s)", scope.choice.threads, scope.choice.reason)
    scope.apply()
    try:
        yield scope
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
