"""The lab's claims, each a :class:`~workbench.core.inference.Verdict` over a Holm family.

1. **above zero**: the trained-versus-twin Gaussian MI is above 0 at a hook point. Test: the
   Wald t test of the mean over twins against its SE over twins and tokens
   (:mod:`twins`), one test per hook point that is not ridge-set.
2. **above the baseline**: the trained model shares more Gaussian MI with a random init than
   another random init does (the baseline of what shared input alone gives). Test: the paired
   difference trained-twin minus partner-twin over twins and tokens, per hook point.
3. **Jacobian gain**: at each init scale of the twin, the trained model passes more gain
   from token t - k to token t (k >= 1) than the random init: σ_max of the Jacobian block,
   two-sample permutation test over sequences x positions
   (:func:`workbench.measures.two_sample_permutation_test`), one test per (scale, k).

Each claim is ``supported`` when some member passes its Holm-adjusted level in the claim's
direction and none against; ``refuted`` the other way; ``not established`` when none pass;
``not testable`` when no member could be run (e.g. every hook ridge-set, one sequence).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workbench.core.inference import TestFamily, Verdict, decide, not_testable
from workbench.measures import two_sample_permutation_test
from workbench_labs.gpt2_residual_mi.robustness import HookResult

__all__ = ["jacobian_family", "jacobian_verdicts", "mi_families", "mi_verdicts"]

CLAIM_ZERO = "the trained and random-init streams share Gaussian MI above 0"
CLAIM_BASELINE = (
    "the trained model shares more Gaussian MI with a random init than two random inits share"
)


def mi_families(results: Sequence[HookResult], alpha: float) -> dict[str, TestFamily]:
    """The Holm families of claims 1 and 2 over the hook points that are not ridge-set."""
    zero = TestFamily("trained-twin MI = 0, one Wald test per regular hook point", alpha)
    base = TestFamily("trained-twin minus twin-twin MI = 0, per regular hook point", alpha)
    for r in results:
        if r.ridge_set:
            continue
        zero.add(r.name, r.trained_twin.t_test(), r.trained_twin.bits)
        if r.difference is not None:
            base.add(r.name, r.difference.t_test(), r.difference.bits)
    return {"above_zero": zero, "above_baseline": base}


def mi_verdicts(families: Mapping[str, TestFamily], n_twins: int) -> dict[str, Verdict]:
    """Claims 1 and 2 from their families."""
    zero, base = families["above_zero"], families["above_baseline"]
    out = {"above_zero": decide(CLAIM_ZERO, zero)}
    if not base.tests:
        out["above_baseline"] = not_testable(CLAIM_BASELINE, "no twin-versus-twin baseline ran")
    else:
        out["above_baseline"] = decide(CLAIM_BASELINE, base)
    if n_twins < 2:
        # One twin: the interval covers tokens only; say so rather than pretend otherwise.
        out = {
            k: Verdict(
                v.claim, v.word, v.reason + "; one twin, so tokens only", v.p_value, v.effect
            )
            if v.word != "not testable"
            else v
            for k, v in out.items()
        }
    return out


def jacobian_family(
    sigma_max: Mapping[str, Mapping[int, np.ndarray[Any, np.dtype[np.float64]]]],
    scales: Sequence[float],
    alpha: float,
    *,
    n_permutations: int = 1999,
    seed: int = 0,
) -> TestFamily:
    """Claim 3's family: trained σ_max versus the twin at each scale, offsets k >= 1.

    Args:
        sigma_max: ``"trained"`` and ``"scale_<s>"`` -> offset k -> (n,) σ_max values over
            sequences x positions.
        scales: The init scales swept.
        alpha: Family-wise error rate.
    """
    family = TestFamily("trained σ_max = twin σ_max, per init scale and offset k >= 1", alpha)
    trained = sigma_max["trained"]
    for i, scale in enumerate(scales):
        twin = sigma_max[f"scale_{scale:g}"]
        for k in sorted(trained):
            if k < 1:
                continue
            a, b = np.asarray(trained[k]), np.asarray(twin[k])
            name = f"scale_{scale:g}/offset_{k}"
            if a.size < 2 or b.size < 2:
                family.add(name, math.nan, math.nan)
                continue
            test = two_sample_permutation_test(
                a, b, n_permutations=n_permutations, seed=seed + 97 * i + k
            )
            family.add(name, test.p_value, test.estimate)
    return family


def jacobian_verdicts(family: TestFamily, scales: Sequence[float]) -> dict[str, Verdict]:
    """Claim 3 at each init scale, read from the one family (Holm over every scale)."""
    out = {}
    for scale in scales:
        claim = (
            f"at init scale {scale:g} x GPT-2's, a random init passes less cross-token gain "
            "(σ_max, k >= 1) than the trained model"
        )
        names = [t.name for t in family.tests if t.name.startswith(f"scale_{scale:g}/")]
        if not names:
            out[f"{scale:g}"] = not_testable(claim, "no offset k >= 1 was measured")
            continue
        out[f"{scale:g}"] = decide(claim, family, names)
    return out
