"""Kraskov-Stögbauer-Grassberger (KSG) k-nearest-neighbour mutual information, in bits."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from workbench.core.measures._arrays import Array, as_float, check_paired, resolve_device, to_numpy

__all__ = ["ksg_mutual_information"]


def ksg_mutual_information(x: Array, y: Array, k: int = 3, *, standardize: bool = True) -> float:
    """Mutual information of continuous x and y by the KSG estimator, in bits.

    Estimator 1 of Kraskov, Stögbauer & Grassberger (2004, "Estimating mutual information",
    Phys. Rev. E 69, 066138, eq. 8), with max-norm distances::

        I = [ψ(k) + ψ(N) - (1/N) sum_i (ψ(n_x(i) + 1) + ψ(n_y(i) + 1))] / ln 2

    where ε_i is the max-norm distance from sample i to its k-th nearest neighbour in the joint
    space ``||(x, y)|| = max(||x||_∞, ||y||_∞)``, and ``n_x(i)`` (``n_y(i)``) counts the other
    samples strictly closer than ε_i in x (in y) alone. Neighbours come from KD-trees
    (``scipy.spatial.cKDTree``) on the CPU; tensors on other devices are copied there.

    Bias: small for low dimensions and N in the thousands; it grows with dimension and with
    strong dependence (the estimate undershoots large MI). The estimate can be slightly
    negative for independent data; it is not clipped.

    Args:
        x: (n_samples, d_x) samples, or (n_samples,) for one feature; numpy or torch.
        y: (n_samples, d_y) samples paired with x.
        k: Number of neighbours, 1 <= k < n_samples (3 is the usual choice; larger k lowers
            variance and raises bias).
        standardize: Divide every feature by its standard deviation first. The max-norm makes
            the estimate depend on the features' relative scales; standardising makes it
            invariant to rescaling any feature (scikit-learn does the same).

    Returns:
        I(X; Y) in bits.

    Raises:
        ValueError: On NaN/inf, empty or unpaired input, a bad k, a constant feature with
            ``standardize``, or duplicated samples (a zero neighbour distance; add tiny noise).
    """
    device = resolve_device(x, y)
    tx = as_float(x, "x", promote_1d=True, device=device)
    ty = as_float(y, "y", promote_1d=True, device=device)
    n = check_paired(("x", tx), ("y", ty))
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"k must be an integer with 1 <= k < n_samples={n}; got {k}")
    xs, ys = to_numpy(tx), to_numpy(ty)
    if standardize:
        for name, values in (("x", xs), ("y", ys)):
            sd = values.std(axis=0)
            if np.any(sd == 0):
                raise ValueError(f"{name} has a constant feature; drop it or use standardize=False")
        xs, ys = xs / xs.std(axis=0), ys / ys.std(axis=0)

    # 1. ε_i: max-norm distance to the k-th neighbour in the joint space (index 0 is the point).
    joint = np.hstack([xs, ys])
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, k]
    if np.any(eps == 0):
        raise ValueError(
            f"{int(np.count_nonzero(eps == 0))} samples have {k} or more exact duplicates in "
            "(x, y); KSG needs distinct points, so add tiny noise or use the discrete measures"
        )
    # 2. Marginal counts strictly inside ε_i: shrink the radius by one ulp, drop the point itself.
    radius = np.nextafter(eps, 0)
    n_x = cKDTree(xs).query_ball_point(xs, r=radius, p=np.inf, return_length=True) - 1
    n_y = cKDTree(ys).query_ball_point(ys, r=radius, p=np.inf, return_length=True) - 1
    # 3. Eq. 8 of Kraskov et al. (2004), in nats, then bits.
    nats = digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1))
    return float(nats / math.log(2.0))
