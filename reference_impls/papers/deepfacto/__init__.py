"""DeepFacto (Khorram, MS thesis, Oregon State 2020, Sec. 4.3, 4.4.3 and App. B) at embedded
scale: an NMF layer (rank 4 / 32 / 64) on the 128-channel ``stage4`` maps of ``cnn_parts``
(computed from the cached ``stage3`` maps), trained by Block ADMM together with a lift layer
on its score maps from class labels only; attributes are read off the spatially pooled
scores of the **probe** split (unseen classes) by linear SVMs. Method:
``reference_impls.methods.deepfacto``; rules: ``workflow/rules/deepfacto.smk``; results:
``results/<profile>/deepfacto/``.

Embedded reductions: the backbone block stays frozen (the thesis's stage-2 training; its
stage-3 joint fine-tuning is not run), 1,000 training images, 3 Block ADMM epochs, the weak
loss is cross-entropy on the 10 training classes (the thesis: a triplet loss on face
identities), the "weakly supervised" reference is a 64-d embedding trained with the same
labels and no NMF layer (the stand-in for Liu et al. 2018).
"""

from ...claims import Artefact

ARTEFACTS = [
    Artefact(
        "Table 4.1",
        "table4_1_attribute_svm.csv",
        "proxy",
        "mean linear-SVM accuracy over the 23 part attributes of the probe split per rank "
        "and reference representation (thesis: LFWA, 40 attributes)",
    ),
    Artefact(
        "Table 4.2",
        "table4_2_per_attribute.csv",
        "proxy",
        "per-attribute SVM accuracy, the same representations",
    ),
    Artefact(
        "Fig. B.2",
        "figB_2_heatmaps.png",
        "proxy",
        "score-map heat maps of the rank-32 layer on probe images, scored against part "
        "masks (localisation table in figB_2_localisation.csv)",
    ),
    Artefact("Fig. 4.2", "", "not reproduced", "diagram of the method (no data)"),
]
