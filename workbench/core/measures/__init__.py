"""The measurement core: information, similarity and spectrum measures.

Import from the public facade :mod:`workbench.measures`. Every measure takes numpy arrays or
torch tensors (CPU or CUDA), returns floats or numpy arrays, and documents its formula, units
and shapes. Information is in bits.

Modules: ``discretization`` (activations to codes), ``discrete`` (entropy, MI, information ratio and
their pairwise matrices), ``network_similarity`` (network similarity from layer codes), ``gaussian``
(log-determinant entropy and MI with bias correction), ``streaming`` (covariance accumulators),
``copula`` (Gaussian-copula MI), ``marginal`` (per-feature kurtosis), ``resampling``
(permutation nulls, bootstrap and jackknife intervals), ``two_sample``
(two-sample permutation tests, many sharing their splits), ``ksg`` (k-NN MI),
``mine`` (neural Donsker–Varadhan MI), ``cka`` (linear CKA) and ``spectra`` (covariance spectra
and dimensionality).
"""

from __future__ import annotations

from workbench.core.measures.cka import linear_cka
from workbench.core.measures.copula import (
    NormalScores,
    gaussian_copula_mutual_information,
    gaussian_copula_mutual_information_details,
    normal_scores,
)
from workbench.core.measures.discrete import (
    entropy,
    information_ratio,
    information_ratio_matrix,
    joint_entropy,
    mutual_information,
    mutual_information_matrix,
)
from workbench.core.measures.discretization import (
    GROUPING_RULES,
    canonical_codes,
    discretize,
    discretize_batch,
)
from workbench.core.measures.gaussian import (
    GaussianEstimate,
    correlation_condition_number,
    gaussian_entropy,
    gaussian_entropy_details,
    gaussian_entropy_from_covariance,
    gaussian_mutual_information,
    gaussian_mutual_information_details,
    gaussian_mutual_information_from_covariance,
    log_det_bias,
    noise_floor_mutual_information,
)
from workbench.core.measures.ksg import ksg_mutual_information
from workbench.core.measures.marginal import StreamingMarginalMoments
from workbench.core.measures.mine import (
    MineEstimate,
    mine_mutual_information,
    mine_mutual_information_batch,
)
from workbench.core.measures.network_similarity import (
    layer_ratio_blocks,
    normalized_similarity,
    normalized_similarity_from_blocks,
    normalized_similarity_matrix,
    similarity,
    similarity_from_blocks,
    similarity_matrix,
)
from workbench.core.measures.resampling import (
    Interval,
    PermutationTest,
    bootstrap_interval,
    jackknife_interval,
    permutation_test,
)
from workbench.core.measures.spectra import (
    PowerLawFit,
    covariance_spectrum,
    effective_rank,
    participation_ratio,
    power_law_exponent,
)
from workbench.core.measures.streaming import StreamingCovariance, StreamingJointCovariance
from workbench.core.measures.two_sample import (
    two_sample_permutation_test,
    two_sample_permutation_tests,
)

__all__ = [
    "GROUPING_RULES",
    "GaussianEstimate",
    "Interval",
    "MineEstimate",
    "NormalScores",
    "PermutationTest",
    "PowerLawFit",
    "StreamingCovariance",
    "StreamingJointCovariance",
    "StreamingMarginalMoments",
    "bootstrap_interval",
    "canonical_codes",
    "correlation_condition_number",
    "covariance_spectrum",
    "discretize",
    "discretize_batch",
    "effective_rank",
    "entropy",
    "gaussian_copula_mutual_information",
    "gaussian_copula_mutual_information_details",
    "gaussian_entropy",
    "gaussian_entropy_details",
    "gaussian_entropy_from_covariance",
    "gaussian_mutual_information",
    "gaussian_mutual_information_details",
    "gaussian_mutual_information_from_covariance",
    "information_ratio",
    "information_ratio_matrix",
    "jackknife_interval",
    "joint_entropy",
    "ksg_mutual_information",
    "layer_ratio_blocks",
    "linear_cka",
    "log_det_bias",
    "mine_mutual_information",
    "mine_mutual_information_batch",
    "mutual_information",
    "mutual_information_matrix",
    "noise_floor_mutual_information",
    "normal_scores",
    "normalized_similarity",
    "normalized_similarity_from_blocks",
    "normalized_similarity_matrix",
    "participation_ratio",
    "permutation_test",
    "power_law_exponent",
    "similarity",
    "similarity_from_blocks",
    "similarity_matrix",
    "two_sample_permutation_test",
    "two_sample_permutation_tests",
]
