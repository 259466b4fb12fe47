"""Factorization solvers for concept extraction (torch, CPU or CUDA, float32 by default).

- :class:`NMF`: ``X ~= W H``, HALS / multiplicative / AO-ADMM solvers, elastic net.
- :func:`nnls` and :class:`ImplicitNNLS`: batched projection onto a fixed concept bank,
  differentiable by implicit differentiation of the KKT conditions (CRAFT Sec. 3.4).
- :class:`SemiNMF`: signed data, non-negative coefficients (Ding, Li & Jordan 2010).
- :func:`learn_dictionary` / :func:`fista_codes`: sparse dictionary with batched FISTA codes.
- :class:`CoupledNMF`: pixels and activations sharing one example factor (Saini &
  Papalexakis, Eq. 1-4).

Rows are examples everywhere except in :class:`CoupledNMF`, which keeps the paper's
examples-as-columns convention.
"""

from .coupled import CoupledNMF
from .nmf import NMF, SOLVERS, initialize, randomized_svd
from .nnls import ImplicitNNLS, nnls, solve_nnls
from .semi_nmf import SemiNMF
from .sparse_coding import fista_codes, learn_dictionary

__all__ = [
    "NMF",
    "SOLVERS",
    "SemiNMF",
    "CoupledNMF",
    "ImplicitNNLS",
    "nnls",
    "solve_nnls",
    "initialize",
    "randomized_svd",
    "fista_codes",
    "learn_dictionary",
]
