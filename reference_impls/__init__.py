"""Reference implementations of factorization-based concept explanations for CNNs.

Subpackages: ``data`` (procedural, bundled and real datasets), ``models`` (zoo, training,
activation cache), ``factorization`` (NMF solvers, NNLS, semi-NMF, coupled NMF), ``metrics``
(CKA, reconstruction, fidelity, importance, attribute-SVM, BONA, stability) and ``methods``
(one module per paper method, all behind one extractor interface).
"""

__version__ = "0.1.0"
