"""Stochastic Block ADMM (Khorram, MS thesis, Oregon State 2020, ch. 4.2 and App. B) at
embedded scale: the MLP experiments of Figs. 4.3-4.4 on the 5,000 real MNIST digits, the
two-block ResNet of Fig. 4.5 on the parts set, wall-clock curves (Fig. 4.6) and the wide
network of Fig. B.1. Optimisers: ``reference_impls.optim``. Rules:
``workflow/rules/blockadmm.smk``; results: ``results/<profile>/blockadmm/``.

Embedded reductions (the full profile keeps the thesis's settings): 3 runs instead of 5,
8 epochs / 10 full-batch iterations instead of 100 / 200, 6 epochs and 2 runs for the deep nets,
the Fig. 4.5 ResNet on 1,000 parts images at 16x16 for 3 epochs, Fig. B.1 at width 256
with one Z/Theta update per minibatch (thesis 3).
"""

from ...claims import Artefact

ARTEFACTS = [
    Artefact(
        "Fig. 4.3",
        "fig4_3_shallow_mlp.png",
        "reproduced",
        "784-128-128-10 MLP, MSE: Block ADMM, Gotmare, SGD, standard ADMM, Taylor, Zeng BCD, "
        "dlADMM; embedded: mnist5k, 3 runs, 8 epochs / 10 iterations",
    ),
    Artefact(
        "Fig. 4.4",
        "fig4_4_deep_mlp.png",
        "reproduced",
        "10- and 20-layer MLPs: Block ADMM vs SGD vs Adam; embedded: 2 runs, 6 epochs",
    ),
    Artefact(
        "Fig. 4.5",
        "fig4_5_resnet_blocks.png",
        "proxy",
        "SmallResNet on the parts set (16x16, 1,000 images, 3 epochs) split after stage2 "
        "stands in for ResNet-18 on CIFAR-10 split after conv3_x",
    ),
    Artefact(
        "Fig. 4.6",
        "fig4_6_wall_clock.png",
        "reproduced",
        "test accuracy against 1-thread CPU training time, from the Fig. 4.3 runs",
    ),
    Artefact(
        "Fig. B.1",
        "figB_1_wide_mlp.png",
        "proxy",
        "Block ADMM vs dlADMM, cross-entropy, on mnist5k with width 256 (thesis: "
        "Fashion-MNIST, width 1000; the full profile keeps those)",
    ),
    Artefact("Fig. 4.1-4.2", "", "not reproduced", "diagrams of the method (no data)"),
]
