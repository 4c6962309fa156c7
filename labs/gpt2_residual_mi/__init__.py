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

from workbench.core.lab import Lab, Step, View
from workbench_labs.gpt2_residual_mi.config import ResidualMIConfig
from workbench_labs.gpt2_residual_mi.steps import (
    run_jacobians,
    run_layers,
    run_load,
    run_mi,
    run_spectra,
    run_stream,
    run_summary,
)

__all__ = ["LAB", "ResidualMIConfig"]

_DESCRIPTION = """\
A discussion of "scarce channels" versus "scarce modules" fitted Gaussians to the residual
stream of a randomly initialised GPT-2-sized model and of trained GPT-2, and found their
mutual information falling from about 142 to about 98 bits through the layers. It fell as
more points were used but seemed to level off above zero: real, or estimation error?

This lab measures it properly. Both models see the same tokens (many sequences, a few
positions each); activations stream into covariance accumulators and never sit in memory.
For each hook point it reports the bias-corrected Gaussian MI next to the plug-in value,
a shuffled-token null (the plug-in's bias), a jackknife interval over sequences, and says
whether the MI is told apart from zero and from the bias. It also gives the MI curve
against the number of tokens, layer x layer MI matrices, covariance spectra (a few large
eigenvalues: a few channels; a slow fall-off: many), and Jacobian singular values of the
last residual stream with respect to the first at offsets 0, 1, 2 and 4 tokens.

The default model is a small byte-level GPT-2 shipped with the lab and trained on an
in-code grammar (`python -m workbench_labs.gpt2_residual_mi.make_checkpoint`); set
`model = "gpt2"` or a folder for a real checkpoint (CUDA recommended at full size).
"""

LAB: Lab[ResidualMIConfig] = Lab(
    name="gpt2-residual-mi",
    title="GPT-2 residual stream: trained versus random-init MI",
    description=_DESCRIPTION,
    config_cls=ResidualMIConfig,
    headline="mi/last_hook",
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
            run=run_load,
            produces=("model/*",),
        ),
        Step(
            key="stream",
            title="Stream residual activations into covariance accumulators",
            explanation=(
                "Runs both models over batches of sequences and reads every hook point at a "
                "few sampled positions per sequence. Each batch is folded into float64 "
                "running moments: per hook point the joint covariance of (trained, twin) "
                "with jackknife groups of whole sequences and within-batch shuffles for the "
                "null; optionally one joint covariance of all hook points of both models. "
                "The MI is measured at several token counts on the way."
            ),
            run=run_stream,
            produces=("data/*",),
        ),
        Step(
            key="mi",
            title="MI per hook point: estimate, bias, null and interval",
            explanation=(
                "Gaussian MI I = ½ log2(|Σ_T| |Σ_R| / |Σ_TR|). The plug-in value is biased "
                "up by about d²/(2n ln 2) bits; the digamma correction of each "
                "log-determinant removes that bias for Gaussian data. The null pairs trained "
                "tokens with the twin's activations of other tokens: its plug-in mean is the "
                "bias. An MI is *above zero* when its interval is, and *above the bias* when "
                "the plug-in beats every shuffle."
            ),
            run=run_mi,
            produces=("mi/*", "curve/*"),
            views=(
                View("table", "MI per hook point (bits)", "mi/"),
                View("curve", "MI by hook point (bits)", "mi/by_hook", x_label="hook point"),
                View(
                    "curve",
                    "MI against tokens (bits)",
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
            run=run_layers,
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
            run=run_spectra,
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
                "Singular values of ∂ resid_post[t] / ∂ resid_pre0[t - k] at the last "
                "position t and offsets k, computed with torch.func (vmap over vjp; "
                "randomized subspace iteration with jvp/vjp for the top k at large width). "
                "Many comparable singular values mean a small change at one token reaches "
                "another through many directions."
            ),
            run=run_jacobians,
            produces=("jacobian/*",),
            views=(View("spectrum", "Jacobian singular values", "jacobian/*/offset_*"),),
        ),
        Step(
            key="summary",
            title="What the numbers say",
            explanation="Writes summary.md: verdicts per hook point, the curve, spectra and "
            "Jacobians in plain words.",
            run=run_summary,
            produces=("summary.md",),
            views=(View("text", "Summary", "summary.md"),),
        ),
    ),
)
