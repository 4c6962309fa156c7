"""A rough estimate of a run's time, from this machine's earlier runs of the same lab.

Labs do not declare a cost model, so the estimate is an explicit, stated
heuristic: take the finished run of the lab on this host whose config differs in
the fewest keys, and scale its wall time linearly by every positive integer key
that differs (seeds, steps, tokens...: work in these labs grows about linearly
in each). The note beside the number says which run it came from and what was
scaled, so a reader can judge it; with no earlier run there is no estimate, and
the live view's ETA (measured on the run's own first steps) takes over.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Project

__all__ = ["Estimate", "estimate_from", "estimate_run_time", "past_runs"]


@dataclass(frozen=True)
class Estimate:
    """Seconds a run should take, and where that number comes from."""

    seconds: float
    note: str


def estimate_from(
    past: Sequence[tuple[str, Mapping[str, Any], float]], config: Mapping[str, Any]
) -> Estimate | None:
    """The estimate for ``config`` from earlier runs ``(run id, config, seconds)``.

    ``seconds = t_ref · Π_k (new_k / old_k)`` over the positive integer keys ``k``
    that differ between ``config`` and the closest earlier config (fewest
    differing keys; the most recent among ties).
    """
    if not past:
        return None

    def differing(old: Mapping[str, Any]) -> list[str]:
        keys = set(old) | set(config)
        return sorted(k for k in keys if old.get(k) != config.get(k))

    run_id, old, seconds = min(reversed(past), key=lambda item: len(differing(item[1])))
    scale = 1.0
    scaled, other = [], []
    for key in differing(old):
        a, b = old.get(key), config.get(key)
        ints = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (a, b))
        if ints:
            scale *= float(b) / float(a)  # type: ignore[arg-type]
            scaled.append(key)
        else:
            other.append(key)
    if not scaled and not other:
        note = f"same config as run {run_id}"
    else:
        parts = [f"scaled from run {run_id}"]
        if scaled:
            parts.append("linearly in " + ", ".join(scaled))
        if other:
            parts.append("other keys differ: " + ", ".join(other))
        note = "; ".join(parts)
    return Estimate(seconds * scale, note)


def past_runs(
    project: Project, lab: str, host: str | None = None
) -> list[tuple[str, dict[str, Any], float]]:
    """Completed runs of ``lab`` on ``host`` (default: this one), oldest first."""
    host = host or socket.gethostname()
    out = []
    for run in project.runs():
        try:
            doc = run.document()
        except WorkbenchError:
            continue
        info = doc.get("run", {})
        if info.get("lab") != lab or info.get("status") != "completed" or info.get("host") != host:
            continue
        start, end = info.get("created"), info.get("finished")
        if not (hasattr(start, "timestamp") and hasattr(end, "timestamp")):
            continue
        out.append((run.id, dict(doc.get("config", {})), float((end - start).total_seconds())))
    return out


def estimate_run_time(project: Project, lab: str, config: Mapping[str, Any]) -> Estimate | None:
    """The estimate for a run of ``lab`` with ``config`` in ``project`` on this machine."""
    return estimate_from(past_runs(project, lab), config)
