"""Excitation backprop and its contrastive version (c-MWP) (Zhang et al., "Top-down neural
attention by excitation backprop", ECCV 2016, Sec. 3.1-3.3), written for any chain of
``Conv2d / Linear / BatchNorm2d / ReLU / MaxPool2d / AvgPool2d / AdaptiveAvgPool2d /
Flatten / Dropout`` modules.

Marginal winning probability (MWP, Eq. 7): for a layer ``y_i = sum_j w_ij x_j`` with
``x >= 0``, ``P(x_j) = sum_i [w+_ij x_j / sum_k w+_ik x_k] P(y_i)`` (w+ = max(w, 0), biases
ignored); in vector form ``p_in = x * W+^T (p_out / (W+ x))`` (TorchRay's
``x * f*(x, w+, p / f(x, w+))``). ReLU and dropout pass p unchanged, max-pooling routes p to
the winner, average pooling is a linear layer with positive weights. BatchNorm is folded
into the preceding bias-free convolution (``W' = W gamma / sigma``) by :func:`fold_batchnorm`.

Contrastive MWP (Sec. 3.3): the dual of a top unit has the negated weights; MWP is run from
the unit and from its dual and the two are subtracted, the result is summed over channels at
the saliency layer and clamped at 0. Because the MWP recursion is linear in p once the
forward pass is fixed, the subtraction can happen at any layer between the classifier and the
saliency layer (TorchRay's "contrast layer") with the same result; only the final clamp
makes the map non-linear.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..utils import as_tensor

EPS = 1e-20
_PASS = (nn.ReLU, nn.Dropout, nn.Identity)


def fold_batchnorm(modules) -> list[nn.Module]:
    """The chain with each ``Conv2d`` + ``BatchNorm2d`` pair merged into one conv with
    ``W' = W * gamma / sqrt(var + eps)`` (the bias, ignored by the MWP rule, is kept exact)."""
    out, modules = [], list(modules)
    i = 0
    while i < len(modules):
        m = modules[i]
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            scale = nxt.weight.detach() / torch.sqrt(nxt.running_var + nxt.eps)
            conv = nn.Conv2d(
                m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=True
            )
            conv.weight.data = m.weight.detach() * scale[:, None, None, None]
            bias = m.bias.detach() if m.bias is not None else torch.zeros_like(scale)
            conv.bias.data = (bias - nxt.running_mean) * scale + nxt.bias.detach()
            out.append(conv.eval())
            i += 2
            continue
        if isinstance(m, nn.BatchNorm2d):
            raise ValueError(
                f"module {i}: BatchNorm2d not preceded by a Conv2d; cannot fold it "
                f"(the MWP rule needs a linear layer with non-negative inputs)"
            )
        out.append(m)
        i += 1
    return out


def _positive_forward(m, x):
    """The layer with its weights clamped at 0 and no bias (the W+ x of the MWP rule)."""
    if isinstance(m, nn.Linear):
        return F.linear(x, m.weight.clamp(min=0))
    if isinstance(m, nn.Conv2d):
        return F.conv2d(x, m.weight.clamp(min=0), None, m.stride, m.padding, m.dilation, m.groups)
    return m(x)  # average pooling: already a positive linear map


def _mwp_step(m, x, p):
    """MWP through one module: input ``x`` (B, ...), output probabilities ``p``."""
    if isinstance(m, _PASS):
        return p
    if isinstance(m, nn.Flatten):
        return p.reshape(x.shape)
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        if isinstance(m, (nn.MaxPool2d,)):
            (g,) = torch.autograd.grad(m(x), x, p)
            return g
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            z = _positive_forward(m, x)
            (g,) = torch.autograd.grad(z, x, p / (z + EPS))
            return x.detach() * g
    raise TypeError(
        f"excitation backprop: unsupported module {type(m).__name__}; fold BatchNorm first "
        f"(fold_batchnorm) and use Conv2d/Linear/ReLU/pooling/Flatten/Dropout"
    )


@torch.no_grad()
def _forward_inputs(chain, x):
    inputs = []
    for m in chain:
        inputs.append(x)
        x = m(x)
    return inputs, x


def top_probabilities(a, weights, contrastive: bool = True):
    """P at the classifier's input ``a`` (B, d) for each weight row ``weights`` (k, d):
    ``a * w+ / (w+ . a)``, minus the dual's ``a * w- / (w- . a)`` when contrastive."""
    w = as_tensor(weights).to(a.dtype)
    a = a.unsqueeze(1)  # (B, 1, d)
    pos = w.clamp(min=0)
    p = a * pos / ((a * pos).sum(-1, keepdim=True) + EPS)
    if contrastive:
        neg = (-w).clamp(min=0)
        p = p - a * neg / ((a * neg).sum(-1, keepdim=True) + EPS)
    return p  # (B, k, d)


def excitation_backprop(
    chain,
    images,
    weights=None,
    units=None,
    saliency_index: int = 0,
    contrastive: bool = True,
    batch_size: int = 32,
) -> np.ndarray:
    """(c-)MWP maps ``(N, k, H, W)`` at the output of ``chain[:saliency_index]`` (0: input).

    ``chain``: modules from the input to the classifier's input ``a`` (flattened to (B, d));
    either ``weights`` (k, d): classifier rows, one map per row (contrastive: minus the dual);
    or ``units`` (k indices into ``a``): MWP started with probability 1 at that unit (a
    hidden unit has no classifier row, hence no dual: ``contrastive`` is ignored). Maps are
    summed over channels; contrastive maps are clamped at 0 (Sec. 3.3)."""
    chain = list(chain)
    if (weights is None) == (units is None):
        raise ValueError("excitation_backprop: give exactly one of weights or units")
    if not 0 <= saliency_index < len(chain):
        raise ValueError(f"saliency_index {saliency_index} outside the chain of {len(chain)}")
    x_all = as_tensor(images)
    maps = []
    for start in range(0, len(x_all), batch_size):
        inputs, a = _forward_inputs(chain, x_all[start : start + batch_size])
        a = a.reshape(len(a), -1)
        if units is not None:
            units_t = torch.as_tensor(np.asarray(units, dtype=np.int64))
            p = torch.zeros(len(a), len(units_t), a.shape[1], dtype=a.dtype)
            p[:, torch.arange(len(units_t)), units_t] = 1.0
        else:
            p = top_probabilities(a, weights, contrastive)
        B, k = p.shape[:2]
        p = p.reshape(B * k, -1)
        out_shape = (B * k,) + tuple(_forward_inputs(chain[-1:], inputs[-1])[1].shape[1:])
        p = p.reshape(out_shape)
        for i in range(len(chain) - 1, saliency_index - 1, -1):
            x = inputs[i].repeat_interleave(k, 0)
            p = _mwp_step(chain[i], x, p)
        m = p.reshape(B, k, *p.shape[1:])
        m = m.sum(2) if m.ndim == 5 else m
        if units is None and contrastive:
            m = m.clamp(min=0)
        maps.append(m.detach())
    return torch.cat(maps).numpy().astype(np.float32)


def flatten_modules(*parts) -> list[nn.Module]:
    """Leaf modules of ``nn.Sequential`` parts (and single modules), in order."""
    out = []
    for part in parts:
        if isinstance(part, nn.Sequential):
            out += flatten_modules(*part)
        else:
            out.append(part)
    return out
