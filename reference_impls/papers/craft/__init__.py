"""CRAFT (Fel et al., CVPR 2023) at embedded scale: concepts from random crops (NMF, Eq. 1),
recursive sub-concepts (Sec. 3.2), total-Sobol importance (Sec. 3.3), concept attribution
maps (Sec. 3.4). Rules: ``workflow/rules/craft.smk``; results: ``results/<profile>/craft/``.

=================  ==============================  ============  =================================
paper artefact     output                          rule          computed by / drawn by
=================  ==============================  ============  =================================
Fig. 4             fig4_concepts.png               craft_fig4    experiments / figures
Fig. 5             fig5_attribution_maps.png       craft_fig5    attribution / figures
Fig. 6, App. F     fig6_fidelity.png, figF_...png  craft_fig6    experiments (per bank) / figures
Table 1 (proxy)    table1_intruder_proxy.csv       craft_table1  table1
Sec. 3.4           implicit_gradients.csv          craft_fig5    attribution
claims, results    claims.csv, results.csv         craft_claims  claims
=================  ==============================  ============  =================================

Modules: ``experiments`` (crops, concept banks, rankings and fidelity curves), ``table1``
(the intruder oracle), ``attribution`` (Fig. 5, localisation, implicit-gradient check),
``claims``, ``figures``, and ``steps`` (one function per rule, what Snakemake runs).
"""

from ...claims import Artefact

ARTEFACTS = [
    Artefact(
        "Fig. 4",
        "fig4_concepts.png",
        "reproduced",
        "concepts per class ordered by total Sobol index, with their top crops",
    ),
    Artefact(
        "Fig. 5",
        "fig5_attribution_maps.png",
        "reproduced",
        "concept attribution maps of the most confident mistakes",
    ),
    Artefact(
        "Fig. 6",
        "fig6_fidelity.png",
        "reproduced",
        "concept deletion / insertion curves per ranking, at layer (affine head above it) "
        "and at nonlinear_layer (non-linear head), where Sobol vs gradients is a real question",
    ),
    Artefact(
        "App. F",
        "figF_fidelity_baselines.png",
        "reproduced",
        "the same curves for PCA and ICA concept banks",
    ),
    Artefact(
        "Table 1",
        "table1_intruder_proxy.csv",
        "proxy",
        "the human intruder study replayed by an oracle on part/background labels",
    ),
    Artefact(
        "Sec. 3.4",
        "implicit_gradients.csv",
        "reproduced",
        "implicit NNLS gradients against finite differences",
    ),
    Artefact("Fig. 2-3", "", "not reproduced", "illustrations of the method (no data behind them)"),
    Artefact(
        "Table 2-3, Fig. 7-8",
        "",
        "not reproduced",
        "human utility studies (Colin et al. protocol) need human participants",
    ),
]
