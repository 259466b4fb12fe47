"""BONA, Kolouri, Martin & Hoffmann, "Explaining Distributed Neural Activations via
Unsupervised Learning" (CVPR-W 2017), reproduced as the paper describes it: per-image elastic
NMF of the last conv layer (Eq. 1, rank by 95% of variation), LoG blobs on the components,
salient patches fed at native size, multi-layer GAP features (Sec. 3.2), DEC with a linear
map as Algorithm 1 (Eq. 2-4, embedding dimension by lowest Fisher score over 2^1..2^8),
bag-of-neural-activations histograms (Sec. 3.4), BONA alone and CNN + BONA (Table 1).

Embedded: BONA from ``cnn_parts`` (the paper's VGG19) for every row; ``cnn_parts`` and
``resnet_parts`` as the CNN rows; two settings, in-domain (the CNN's classes: train -> test)
and the unseen probe classes (halves of the probe split, frozen features). K (never stated in
the paper) is fixed by :func:`experiments.auto_clusters`. The method code is shared:
``reference_impls.factorization.batched`` (per-image NMF) and ``reference_impls.methods.bona``
(patches, GAP features, DEC, Fisher score, histograms). Rules: ``workflow/rules/bona.smk``;
results: ``results/<profile>/bona/``.
"""

from ...claims import Artefact

ARTEFACTS = [
    Artefact(
        "Table 1",
        "table1_accuracy.csv",
        "reproduced",
        "top-1 / top-2 of BONA alone, each CNN and CNN + BONA (retrained softmax), in-domain "
        "and on unseen probe classes, with bootstrap intervals and a random-cluster control",
    ),
    Artefact(
        "Fig. 2",
        "fig2_components_blobs_patches.png",
        "reproduced",
        "per-image NMF components, LoG blobs and salient patches; blob centres scored against "
        "part masks in fig2_blob_localisation.csv",
    ),
    Artefact(
        "Fig. 5",
        "fig5_cluster_members.png",
        "reproduced",
        "top-5 members of every DEC activation cluster (in-domain classes; the paper's "
        "ImageNet subset), with the dominant part / background and purity",
    ),
    Artefact(
        "Fig. 6",
        "fig6_cluster_members.png",
        "reproduced",
        "the same for clusters of the unseen probe classes (the paper's Stanford Cars)",
    ),
    Artefact("Fig. 1, 3-4", "", "not reproduced", "schematics of the method (no data behind them)"),
]
