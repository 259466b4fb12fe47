"""The part of a model above a named layer, as a function of channels-last activations."""

from __future__ import annotations

import numpy as np
import torch

from .zoo import named_layer


class LayerHead(torch.nn.Module):
    """``h_{l,k}``: the part of ``model`` above the named stage ``layer``, on channels-last input.

    Maps activations ``(B, H, W, p)`` (or pooled ``(B, p)`` when nothing but global pooling
    follows the layer) to logits ``(B, K)``, the ``head`` signature of
    :mod:`reference_impls.metrics`. ``offset`` (p,) is added first: the mean that a PCA or ICA
    bank's reconstruction carries (zero for NMF). Supports models with ``stage_names`` and a
    ``head(a)`` method (the suite's CNNs) and torchvision ResNets (``avgpool`` + ``fc``).
    """

    def __init__(self, model: torch.nn.Module, layer: str, offset=None):
        super().__init__()
        stages = list(getattr(model, "stage_names", ()))
        if layer not in stages:
            raise KeyError(
                f"layer '{layer}' is not a named stage of {type(model).__name__} ({stages})"
            )
        if not (
            callable(getattr(model, "head", None))
            or (hasattr(model, "avgpool") and hasattr(model, "fc"))
        ):
            raise NotImplementedError(
                f"{type(model).__name__}: no head(a) method and no "
                f"avgpool + fc; cannot split it above '{layer}'"
            )
        self.model = model
        self.rest = list(stages[stages.index(layer) + 1 :])
        self.training = model.training  # follow the model (eval), without touching it
        self.register_buffer(
            "offset",
            None if offset is None else torch.as_tensor(np.asarray(offset), dtype=torch.float32),
        )

    def _final(self, x):
        if callable(getattr(self.model, "head", None)):
            return self.model.head(x)
        return self.model.fc(torch.flatten(self.model.avgpool(x), 1))

    def forward(self, a):
        if self.offset is not None:
            a = a + self.offset.to(a)
        if a.ndim == 2:
            if self.rest:
                raise ValueError(
                    f"pooled (B, p) activations need a head that only pools; "
                    f"stages {self.rest} follow this layer"
                )
            x = a[:, :, None, None]
        elif a.ndim == 4:
            x = a.movedim(-1, 1)
        else:
            raise ValueError(f"head input must be (B, H, W, p) or (B, p), got {tuple(a.shape)}")
        for name in self.rest:
            x = named_layer(self.model, name)(x)
        return self._final(x)
