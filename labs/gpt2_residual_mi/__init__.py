"""``gpt2-residual-mi``: information shared between a trained and a random-init transformer.

A GPT-2-family model and a random-init twin of the same config run on the same tokens.
At every residual-stream hook point (``blocks.{i}.hook_resid_pre``,
``blocks.{i}.hook_resid_mid``, the last ``hook_resid_post``) their activations are
folded into streaming covariances, and the lab measures the Gaussian mutual information
between the two streams with its bias, null and interval, the MI-versus-tokens curve,
layer x layer MI matrices, covariance spectra, and the singular values of the Jacobian
of the last residual stream with respect to the first.
"""

from __future__ import annotations

from workbench.core.lab import Lab, LazyStep, Step, View
from workbench_labs.gpt2_residual_mi.config import ResidualMIConfig

__all__ = ["LAB", "ResidualMIConfig"]

_DESCRIPTION = """\
A discussion of "scarce channels" versus "scarce modules" fitted Gaussians to the residual
stream of a randomly initialised GPT-2-sized model and of trained GPT-2, and found their
mutual information falling from about 142 to about 98 bits through the layers. It fell as
more points were used but seemed to level off above zero: real, or estimation error?

This lab measures it, and says what the number is. The measure is the **Gaussian (linear)
MI**: the MI of Gaussians with the streams' covariance, which measures linear alignment and
can exceed any Shannon MI the streams could have. Beside it the lab shows a **Shannon
ceiling** (the prefix entropy, bounded by the trained model's loss) and flags every hook
above it, flags hook points whose MI is set by a ridge (no interval, left out of counts),
nearly singular (condition number) or fragile under a noise-floor sweep, and gives the
Gaussian-copula MI and kurtosis as robustness columns. Intervals span K random twins and
the tokens; two random inits give the twin-versus-twin baseline of what shared input alone
gives. Activations stream into covariance accumulators one twin at a time and never sit in
memory. It also gives the MI curve against tokens, layer x layer MI matrices, covariance
spectra, and Jacobian spectra of the last residual stream with respect to the first, with a
gain floor, over sequences, positions and a sweep of the twin's init scale.

The default model is a small byte-level GPT-2 shipped with the lab and trained on an
in-code grammar (`python -m workbench_labs.gpt2_residual_mi.make_checkpoint`); set
`model = "gpt2"` or a folder for a real checkpoint (CUDA recommended at full size).
"""

LAB: Lab[ResidualMIConfig] = Lab(
    name="gpt2-residual-mi",
    title="GPT-2 residual stream: trained versus random-init MI",
    description=_DESCRIPTION,
    config_cls=ResidualMIConfig,
    headline="mi/headline",
    presets={
        "quick": {
            "n_sequences": 128,
            "positions_per_sequence": 4,
            "n_groups": 8,
            "twin_seeds": 2,
            "ceiling_sequences": 32,
            "copula_calibration": 256,
            "jacobian_sequences": 2,
            "twin_init_scales": [1.0, 4.0],
        }
    },
    steps=(
        Step(
            key="load",
            title="Load the trained model and its random twin",
            explanation=(
                "Loads the trained model with its raw weights (no layer-norm folding) and "
                "builds a twin with the same config whose weights come from its own seeded "
                "generator, following GPT-2's initialisation (σ = 0.02, residual projections "
                "σ/√(2L))."
            ),
            run=LazyStep(".steps:run_load", __name__),
            produces=("model/*",),
        ),
        Step(
            key="ceiling",
            title="The Shannon ceiling from the trained model's loss",
            explanation=(
                "Both streams are functions of the token prefix, so no Shannon MI between them "
                "can exceed the prefix's entropy. The trained model's held-out cross-entropy "
                "bounds each conditional entropy from above, so log2 V for the first token "
                "plus the loss summed over the prefix, averaged over the sampled positions "
                "(plus log2 of the number of positions), is an upper bound: the ceiling."
            ),
            run=LazyStep(".steps:run_ceiling", __name__),
            produces=("ceiling/*",),
            views=(View("curve", "Shannon ceiling by position (bits)", "ceiling/by_position"),),
        ),
        Step(
            key="stream",
            title="Stream residual activations of K twins into covariance accumulators",
            explanation=(
                "One pass per random twin (seeds twin_seed + k), each with a partner init for "
                "the twin-versus-twin baseline. Per hook point the joint covariances of "
                "(trained, twin) and (partner, twin) are folded into float64 moments with "
                "jackknife groups of whole sequences and cheap shuffled nulls; the first pass "
                "also streams normal scores (copula MI), fourth moments (kurtosis) and the "
                "all-hook covariance. Each pass is reduced to its numbers and freed, so more "
                "twins cost time, not memory."
            ),
            run=LazyStep(".steps:run_stream", __name__),
            produces=("data/*",),
        ),
        Step(
            key="mi",
            title="Gaussian (linear) MI per hook point: twins, baseline, ceiling, flags",
            explanation=(
                "Gaussian MI I = ½ log2(|Σ_T| |Σ_R| / |Σ_TR|), bias-corrected: it measures "
                "linear alignment of the streams, not Shannon information. Intervals combine "
                "tokens (jackknife) and twins; the twin-versus-twin MI is the baseline of what "
                "shared input alone gives. Flags: ridge-set (no interval, left out of counts), "
                "near-singular (condition number), noise-fragile (the noise-floor sweep) and "
                "above the Shannon ceiling. Verdicts: Holm over the regular hook points."
            ),
            run=LazyStep(".results:run_mi", __name__),
            produces=("mi/*", "curve/*", "verdict/*", "family/*"),
            views=(
                View("table", "Gaussian (linear) MI per hook point (bits)", "mi/"),
                View(
                    "heatmap",
                    "Flags per hook point (1 = raised)",
                    "mi/flags",
                    x_label="hook point",
                    y_label="flag",
                ),
                View("curve", "Gaussian MI by hook point (bits)", "mi/by_hook", x_label="hook"),
                View("curve", "Noise-floor sweep (bits)", "mi/noise", x_label="hook point"),
                View(
                    "curve",
                    "Gaussian MI against tokens (bits)",
                    "curve/blocks.*",
                    x_label="curve point (token counts in curve/n_tokens)",
                ),
            ),
        ),
        Step(
            key="layers",
            title="Layer x layer MI within each model and across",
            explanation=(
                "Bias-corrected Gaussian MI between every two hook points of the trained "
                "model, of the twin, and between trained hook a and twin hook b, from one "
                "joint covariance of all hook points."
            ),
            run=LazyStep(".steps:run_layers", __name__),
            produces=("layers/mi_trained", "layers/mi_twin", "layers/mi_cross"),
            views=(
                View(
                    "heatmap",
                    "MI across models (bits)",
                    "layers/mi_cross",
                    x_label="twin hook",
                    y_label="trained hook",
                ),
                View("heatmap", "MI within the trained model (bits)", "layers/mi_trained"),
                View("heatmap", "MI within the twin (bits)", "layers/mi_twin"),
            ),
        ),
        Step(
            key="spectra",
            title="Covariance eigenspectra",
            explanation=(
                "Eigenvalues of each stream's covariance. A few large eigenvalues mean a few "
                "channels touching every unit; a slow fall-off means many. Reported: "
                "participation ratio (Σλ)²/Σλ², effective rank exp H(λ/Σλ), the share of "
                "the top 1 and 3 eigenvalues, and the power-law exponent α of λ_k ∝ k^-α."
            ),
            run=LazyStep(".steps:run_spectra", __name__),
            produces=("spectrum/*",),
            views=(
                View("spectrum", "Trained model spectra", "spectrum/trained/blocks.*"),
                View("spectrum", "Twin spectra", "spectrum/twin/blocks.*"),
            ),
        ),
        Step(
            key="jacobian",
            title="Jacobian singular values, last residual stream w.r.t. the first",
            explanation=(
                "Singular values of ∂ resid_post[t] / ∂ resid_pre0[t - k] at output positions "
                "t and offsets k, over several sequences, for the trained model and for twins "
                "over a sweep of init scales (torch.func: vmap over vjp; randomized subspace "
                "iteration for the top k at large width). σ below a gain floor x σ_max do not "
                "count towards the rank. Verdict per scale: does random init pass less "
                "cross-token gain than training?"
            ),
            run=LazyStep(".jacobian_step:run_jacobians", __name__),
            produces=("jacobian/*",),
            views=(View("spectrum", "Jacobian singular values", "jacobian/*/offset_*"),),
        ),
        Step(
            key="summary",
            title="What the numbers say",
            explanation="Writes summary.md: verdicts per hook point, the curve, spectra and "
            "Jacobians in plain words.",
            run=LazyStep(".steps:run_summary", __name__),
            produces=("summary.md",),
            views=(View("text", "Summary", "summary.md"),),
        ),
    ),
)
