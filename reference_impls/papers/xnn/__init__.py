"""XNN / SRAE (Khorram, MS thesis, Oregon State 2020, ch. 3 and App. A; Qi, Khorram & Li,
AIJ 2021): an explanation network embeds a CNN layer Z into n = 5 x-features that predict one
category's logit (faithfulness), with a sparse reconstruction autoencoder (log penalty, Eq.
3.5) and a pull-away term (Eq. 3.3); x-features are visualised by contrastive excitation
backprop. Rules: ``workflow/rules/xnn.smk``; results: ``results/<profile>/xnn/``.

Embedded scale (default profile): ``cnn_parts`` with the XNN attached at ``stage3`` flattened
(4,096 dims, the fc6 analogue); a few categories (``categories``), subsampled one-vs-all
training rows (``n_pos_train`` / ``n_neg_train``), a 200-100-5 encoder instead of 800-100-5
(``srae.hidden``), a few epochs (``srae.epochs``) and
``heatmap_images`` test images per category for the heatmap metrics; one seed (intervals are
over categories). The full profile keeps the thesis settings (VGG19 fc on CUB, 200 classes).
"""

from ...claims import Artefact

ARTEFACTS = [
    Artefact(
        "Table 3.1",
        "table3_1.csv",
        "reproduced",
        "F_reg, F_cls, O1, O2, locality (Voronoi and mask) of SRAE, NN, SAE, Lasso, CAE, Z, "
        "1-Heatmap, Grad-CAM and a random-x-feature control; embedded: 4 categories, "
        "1,200 training rows each, 200-100-5 encoder, 4 epochs",
    ),
    Artefact(
        "Table A.1",
        "tablea1.csv",
        "reproduced",
        "Lasso faithfulness against alpha, read at matched numbers of selected units",
    ),
    Artefact(
        "Table A.2",
        "tablea2.csv",
        "reproduced",
        "keep the top pixels of x-feature maps vs 1-Heatmap, biharmonic inpainting, classify",
    ),
    Artefact(
        "Fig. 3.8",
        "fig3_8_xfeatures.png",
        "reproduced",
        "x-feature c-MWP maps ordered by contribution, with 1-Heatmap",
    ),
    Artefact(
        "Table 3.2",
        "",
        "not reproduced",
        "Places365/ADE20K scenes are not available; the exact-mask locality of its protocol "
        "is reported as locality_mask in Table 3.1",
    ),
    Artefact(
        "Table A.3",
        "",
        "not reproduced",
        "the Places Lasso sweep; the same protocol on the parts data is Table A.1",
    ),
    Artefact(
        "Table 3.3",
        "table3_3.csv",
        "reproduced",
        "convolutional XNN on stage2-stage4 (stage1 is not cached) vs the fully connected XNN",
    ),
    Artefact(
        "Figs. 3.3-3.5",
        "",
        "not reproduced",
        "human study (30 participants)",
    ),
]
