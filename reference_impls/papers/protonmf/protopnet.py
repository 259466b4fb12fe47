"""ProtoPNet (Chen et al., NeurIPS 2019), the baseline of ProtoNMF's Tables 1-2, sized for CPU.

Architecture and losses follow the official code (cfchen-duke/ProtoPNet, ``model.py``,
``train_and_test.py``, ``push.py``, ``settings.py``): "regular" add-on layers (1x1 conv, ReLU,
1x1 conv, Sigmoid), m prototypes per class of shape (P, 1, 1) initialised uniformly in
[0, 1], squared L2 distances, min-pooling, log similarity ``log((d + 1) / (d + 1e-4))``, a
bias-free last layer initialised at +1 (own class) / -0.5 (others), loss
CE + 0.8 cluster - 0.08 separation (+ 1e-4 L1 on off-class last-layer weights in the
last-layer stage); training cycles = joint epochs, push (each prototype replaced by its
nearest training patch of its own class), last-layer epochs.

Embedded cost cap: the backbone below ``top`` is frozen and read from the activation cache
(only the stages above it are trained in the joint stage), BatchNorm statistics stay frozen,
and the image count / epochs come from the config (see the paper's ARTEFACTS notes).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LOG_EPS = 1e-4


class ProtoPNet(nn.Module):
    """Trainable ``top`` (stages above the cached layer) -> add-on -> prototypes -> last layer."""

    def __init__(
        self, top: nn.Module, in_channels: int, n_classes: int, per_class=10, dim=64, seed=0
    ):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        self.top = top
        self.add_on = nn.Sequential(
            nn.Conv2d(in_channels, dim, 1), nn.ReLU(), nn.Conv2d(dim, dim, 1), nn.Sigmoid()
        )
        for m in self.add_on:
            if isinstance(m, nn.Conv2d):  # official: kaiming_normal_(fan_out, relu), bias 0
                fan_out = m.out_channels
                with torch.no_grad():
                    m.weight.copy_(
                        torch.randn(m.weight.shape, generator=gen) * (2 / fan_out) ** 0.5
                    )
                    m.bias.zero_()
        n_proto = n_classes * per_class
        self.prototypes = nn.Parameter(torch.rand(n_proto, dim, generator=gen))
        self.register_buffer(
            "identity", F.one_hot(torch.arange(n_proto) // per_class, n_classes).float()
        )
        self.last = nn.Linear(n_proto, n_classes, bias=False)
        with torch.no_grad():
            self.last.weight.copy_(self.identity.T * 1.0 + (1 - self.identity.T) * -0.5)
        self.n_classes, self.per_class, self.dim = n_classes, per_class, dim

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.top.modules():  # frozen BatchNorm statistics (pretrained backbone)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def features(self, x):
        """Add-on features (B, P, H, W) from cached input maps (B, C, H', W')."""
        return self.add_on(self.top(x))

    def distances(self, z):
        """Squared L2 distance of every position to every prototype: (B, M, H, W)."""
        p = self.prototypes
        d = (z * z).sum(1, keepdim=True) - 2 * torch.einsum("bchw,mc->bmhw", z, p)
        return (d + (p * p).sum(1)[None, :, None, None]).clamp(min=0)

    def forward(self, x):
        d = self.distances(self.features(x))
        min_d = d.flatten(2).min(-1).values
        sim = torch.log((min_d + 1) / (min_d + LOG_EPS))
        return self.last(sim), min_d, sim


def protopnet_loss(model, logits, min_d, y, clst=0.8, sep=-0.08, l1=0.0):
    """Official cost: CE + clst * cluster + sep * separation (+ l1 * off-class L1)."""
    own = model.identity[:, y].T  # (B, M)
    max_dist = float(model.dim)
    cluster = (max_dist - ((max_dist - min_d) * own).max(1).values).mean()
    separation = (max_dist - ((max_dist - min_d) * (1 - own)).max(1).values).mean()
    loss = F.cross_entropy(logits, y) + clst * cluster + sep * separation
    if l1:
        loss = loss + l1 * (model.last.weight * (1 - model.identity.T)).abs().sum()
    return loss


def _batches(n, batch, rng):
    order = rng.permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


def adam(params, lrs):
    return torch.optim.Adam([{"params": p, "lr": lr} for p, lr in zip(params, lrs)])


def run_epoch(model, X, y, opt, batch, rng, l1=0.0):
    """One epoch of ``opt`` (Adam over the stage's parameter groups)."""
    model.train()
    total = 0.0
    for idx in _batches(len(X), batch, rng):
        xb, yb = torch.as_tensor(X[idx]), torch.as_tensor(y[idx])
        logits, min_d, _ = model(xb)
        loss = protopnet_loss(model, logits, min_d, yb, l1=l1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(X)


@torch.no_grad()
def add_on_maps(model, X, batch=256) -> np.ndarray:
    """Add-on features (N, H, W, P) channels-last, float32."""
    model.eval()
    out = [
        model.features(torch.as_tensor(X[i : i + batch])).movedim(1, -1).numpy()
        for i in range(0, len(X), batch)
    ]
    return np.concatenate(out)


@torch.no_grad()
def push(model, X, y, batch=256) -> np.ndarray:
    """Push: every prototype becomes the nearest add-on patch among training images of its
    own class (official ``class_specific=True``). Returns (M, 3) = (image row, h, w)."""
    maps = add_on_maps(model, X, batch)  # (N, H, W, P)
    N, H, W, P = maps.shape
    owner = model.identity.argmax(1).numpy()
    where = np.zeros((len(owner), 3), dtype=np.int64)
    protos = model.prototypes.detach().numpy().astype(np.float64)
    for c in np.unique(owner):
        rows = np.flatnonzero(y == c)
        if not len(rows):
            raise ValueError(f"push: no training image of class {c}")
        flat = maps[rows].reshape(-1, P).astype(np.float64)
        for j in np.flatnonzero(owner == c):
            d = ((flat - protos[j]) ** 2).sum(1)
            k = int(d.argmin())
            img, pos = divmod(k, H * W)
            where[j] = (rows[img], *divmod(pos, W))
            model.prototypes.data[j] = torch.as_tensor(flat[k], dtype=torch.float32)
    return where


@torch.no_grad()
def similarities(model, X, batch=256):
    model.eval()
    return torch.cat([model(torch.as_tensor(X[i : i + batch]))[2] for i in range(0, len(X), batch)])


def train_last_layer(model, S, y, epochs, lr, batch, rng, l1=1e-4):
    """The convex last-layer stage on fixed similarities ``S`` (N, M)."""
    opt = adam([model.last.parameters()], [lr])
    y = torch.as_tensor(y)
    for _ in range(epochs):
        for idx in _batches(len(S), batch, rng):
            idx = torch.as_tensor(idx)
            logits = model.last(S[idx])
            loss = F.cross_entropy(logits, y[idx])
            loss = loss + l1 * (model.last.weight * (1 - model.identity.T)).abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()


@torch.no_grad()
def accuracy(model, X, y, batch=256) -> float:
    model.eval()
    pred = torch.cat(
        [model(torch.as_tensor(X[i : i + batch]))[0].argmax(1) for i in range(0, len(X), batch)]
    )
    return float((pred.numpy() == np.asarray(y)).mean())


def make_top(model: nn.Module, stages) -> nn.Module:
    """A trainable copy of the named stages (in order) of a trained backbone."""
    from ...models.zoo import named_layer

    return nn.Sequential(*[copy.deepcopy(named_layer(model, s)) for s in stages])


def train_protopnet(model, X, y, cfg, seed, on_cycle=None, log=None):
    """Warm-up, then ``cfg["cycles"]`` cycles of joint epochs, push and last-layer epochs
    (official learning rates). ``on_cycle(cycle, model, push_where)`` runs after each cycle."""
    rng = np.random.default_rng(seed)
    batch = int(cfg["batch_size"])
    warm = [list(model.add_on.parameters()), [model.prototypes]]
    warm_opt = adam(warm, [3e-3, 3e-3])
    joint_opt = adam([list(model.top.parameters()), *warm], [1e-4, 3e-3, 3e-3])
    for epoch in range(cfg["warm_epochs"]):
        loss = run_epoch(model, X, y, warm_opt, batch, rng)
        if log:
            log.info("ProtoPNet warm epoch %d: loss %.4f", epoch + 1, loss)
    for cycle in range(1, cfg["cycles"] + 1):
        for epoch in range(cfg["joint_epochs_per_cycle"]):
            loss = run_epoch(model, X, y, joint_opt, batch, rng)
            if log:
                log.info("ProtoPNet cycle %d joint epoch %d: loss %.4f", cycle, epoch + 1, loss)
        where = push(model, X, y)
        S = similarities(model, X)
        train_last_layer(model, S, y, cfg["last_layer_epochs"], 1e-4, batch, rng)
        if on_cycle is not None:
            on_cycle(cycle, model, where)
    return model
