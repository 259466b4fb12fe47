"""Shared metrics: one module per metric, each a plain function citing its paper.

``HIGHER_IS_BETTER`` maps every scalar metric (by function name) to its direction. For the
curve metrics (``concept_deletion`` & co.) the scalar is the returned curve's ``.auc``; for
the result objects (``attribute_svm_accuracy``, ``bona_accuracy``, ``pairwise_stability``,
``cka_stability``) it is their ``mean_accuracy`` / ``mean``. Concept importances
(:mod:`~reference_impls.metrics.importance`) are attributions, not scores, and have no
direction.
"""

from reference_impls.metrics.attributes import AttributeSVMResult, attribute_svm_accuracy
from reference_impls.metrics.bona import BonaResult, bag_of_activations, bona_accuracy
from reference_impls.metrics.cka import (
    kernel_cka,
    linear_cka,
    linear_cka_debiased,
    minibatch_cka,
    minibatch_cka_from_batches,
)
from reference_impls.metrics.extraction import (
    OutputAgreement,
    code_sparsity,
    concept_mufidelity,
    frechet_distance,
    ood_distance,
    output_agreement,
    wasserstein_1d,
)
from reference_impls.metrics.fidelity import (
    FidelityCurve,
    concept_deletion,
    concept_insertion,
    concept_orders,
    pixel_deletion,
    pixel_insertion,
)
from reference_impls.metrics.importance import (
    concept_sobol_importance,
    gradient_input_importance,
    importance_to_order,
    jansen_total_indices,
    occlusion_importance,
    per_class_importance,
    sobol_design,
    tcav_scores,
    total_sobol_indices,
)
from reference_impls.metrics.parts import PartAlignment, concept_part_alignment
from reference_impls.metrics.reconstruction import mean_relative_l2_error, relative_frobenius_error
from reference_impls.metrics.stability import (
    PairwiseStability,
    cka_stability,
    dictionary_stability,
    pairwise_stability,
)

HIGHER_IS_BETTER: dict[str, bool] = {
    # cka.py: similarity of two representations (as stability: more similar is better)
    "linear_cka": True,
    "linear_cka_debiased": True,
    "minibatch_cka": True,
    "minibatch_cka_from_batches": True,
    "kernel_cka": True,
    # reconstruction.py
    "relative_frobenius_error": False,
    "mean_relative_l2_error": False,
    # fidelity.py: the curve's .auc
    "concept_deletion": False,
    "concept_insertion": True,
    "pixel_deletion": False,
    "pixel_insertion": True,
    # attributes.py, bona.py: mean cross-validated accuracy
    "attribute_svm_accuracy": True,
    "bona_accuracy": True,
    # extraction.py (Fel et al. 2023 holistic set); output_agreement's scalar is .top1
    "code_sparsity": True,
    "frechet_distance": False,
    "wasserstein_1d": False,
    "ood_distance": False,
    "output_agreement": True,
    "concept_mufidelity": True,
    # parts.py: the result's .mean_iou
    "concept_part_alignment": True,
    # stability.py
    "dictionary_stability": True,
    "pairwise_stability": True,
    "cka_stability": True,
}

__all__ = [
    "HIGHER_IS_BETTER",
    "AttributeSVMResult",
    "attribute_svm_accuracy",
    "BonaResult",
    "bag_of_activations",
    "bona_accuracy",
    "kernel_cka",
    "linear_cka",
    "linear_cka_debiased",
    "minibatch_cka",
    "minibatch_cka_from_batches",
    "FidelityCurve",
    "concept_deletion",
    "concept_insertion",
    "concept_orders",
    "pixel_deletion",
    "pixel_insertion",
    "concept_sobol_importance",
    "gradient_input_importance",
    "importance_to_order",
    "jansen_total_indices",
    "occlusion_importance",
    "per_class_importance",
    "sobol_design",
    "tcav_scores",
    "total_sobol_indices",
    "mean_relative_l2_error",
    "relative_frobenius_error",
    "PairwiseStability",
    "OutputAgreement",
    "code_sparsity",
    "concept_mufidelity",
    "frechet_distance",
    "ood_distance",
    "output_agreement",
    "wasserstein_1d",
    "PartAlignment",
    "concept_part_alignment",
    "cka_stability",
    "dictionary_stability",
    "pairwise_stability",
]
