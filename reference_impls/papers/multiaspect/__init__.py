"""Saini & Papalexakis, "Multi-aspect matrix factorization based visualization of CNNs": one
non-negative example factor F (d x N) shared by the pixels (D_i ~ P_i F) and several layers'
activations (A_j ~ O_j F) of N probe images (Eq. 1-2, multiplicative updates), with the
group-sparse (Eq. 3) and TV + soft-orthogonality (Eq. 4) variants of the appendix
(:class:`reference_impls.factorization.coupled.CoupledNMF`). Embedded analogue: ``cnn_parts``
on the procedural parts data (superclasses and part masks are ground truth; the ``probe``
split's unseen classes stand in for "CIFAR-10 network probed with CIFAR-100").
Rules: ``workflow/rules/multiaspect.smk``; results: ``results/<profile>/multiaspect/``.
"""

from ...claims import Artefact

ARTEFACTS = [
    Artefact(
        "Table 1",
        "table1_factors.csv",
        "reproduced",
        "Table I: per factor top classes, top-20 images, top superclass and purities "
        "(thumbnails in table1_top_images.png)",
    ),
    Artefact(
        "Fig. 2",
        "fig2_similarity.png",
        "reproduced",
        "cosine similarity of the columns of O_j for the three analysed layers",
    ),
    Artefact(
        "Fig. 3",
        "fig3_eigenvalues.png",
        "reproduced",
        "eigenvalues of the Fig. 2 matrices; top-K means in fig3_eigenvalues.csv (the "
        "paper's extra pre-softmax block is not used: logits are signed)",
    ),
    Artefact(
        "Figs. 4-5",
        "fig4_5_latent_pixels.png",
        "reproduced",
        "latent pixels, top image, median mask and neighbours' concepts of the two purest "
        "factors; every factor's mask scored on part masks in fig4_5_masks.csv",
    ),
    Artefact(
        "Table 2",
        "table2_cka.csv",
        "reproduced",
        "Table II: CKA between F^T F kernels across lambda_F (own seed per setting), extra "
        "lambdas, a seed-only control and a random-F control",
    ),
    Artefact(
        "Running time",
        "runtime.csv",
        "reproduced",
        "wall time of the Eq. 1 fit (embedded N=1000, 1 thread; full N=3000)",
    ),
    Artefact(
        "Figs. 6-7",
        "fig6_7_lime.png",
        "reproduced",
        "LIME vs latent-pixel masks on the top images of the six purest factors (64x64 "
        "images; the paper retrained at 128x128 because LIME failed at 32x32)",
    ),
    Artefact(
        "Figs. 8-11",
        "fig8_11_gradcam.png",
        "reproduced",
        "top images of a d = 10 fit with latent masks, Grad-CAM and Grad-CAM++",
    ),
    Artefact(
        "Table 3",
        "table3_gs_abridged.csv",
        "reproduced",
        "Table III: the purest group-sparsity factors with their highest-TCAV classes",
    ),
    Artefact(
        "Table 4",
        "table4_gs.csv",
        "reproduced",
        "Table IV: every factor of the group-sparse fit (Eq. 3, groups = probe classes)",
    ),
    Artefact(
        "Table 5",
        "table5_tv.csv",
        "reproduced",
        "Table V: every factor of the TV + soft-orthogonality fit (Eq. 4, inputs included)",
    ),
    Artefact(
        "Fig. 12",
        "fig12_tcav_gs.png",
        "reproduced",
        "TCAV (Kim et al. CAVs) of each group-sparse latent concept for each training class",
    ),
    Artefact(
        "Fig. 13",
        "fig13_tcav.png",
        "reproduced",
        "TCAV for the group-sparse (a) and TV (b) concepts",
    ),
]
