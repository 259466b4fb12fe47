"""Fully convolutional XNN (thesis Sec. 3.4.3, Table 3.3): 1x1-conv encoder C -> C/2 -> C/4 -> n
(ReLU, n x-feature maps), mirrored 1x1-conv decoder, one fully connected layer from the n maps
to the logit; the SRAE loss with the log penalty per (channel, position) and the pull-away
term between the n maps. Channel widths are not given in the thesis (C/2, C/4 is the suite's
reading); no layer-wise pretraining (the thesis does not describe one for this variant).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from ...methods.srae import log_penalty, pull_away

log = logging.getLogger(__name__)


def _convs(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Conv2d(a, b, 1), nn.ReLU()]
    return nn.Sequential(*layers)


class ConvXNN(nn.Module):
    def __init__(self, shape, n):
        super().__init__()
        C, H, W = shape
        widths = [C, max(C // 2, n), max(C // 4, n), n]
        self.encoder = _convs(widths)
        self.decoder = _convs(widths[::-1])
        self.v = nn.Linear(n * H * W, 1)

    def forward(self, z):
        e = self.encoder(z)
        return e, self.v(e.flatten(1)).squeeze(1), self.decoder(e)


def fit_conv_xnn(Z, y, positive, n, cfg, seed) -> ConvXNN:
    """Train on maps ``Z`` (M, C, H, W) to explain logit ``y``; positives weighted
    n_neg / n_pos as the fully connected XNN."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    scale = float(Z.std()) or 1.0
    Zt = torch.from_numpy(np.asarray(Z, np.float32) / scale)
    yt = torch.from_numpy(np.asarray(y, np.float32))
    w = np.ones(len(y), np.float32)
    n_pos = int(positive.sum())
    if 0 < n_pos < len(y):
        w[positive] = (len(y) - n_pos) / n_pos
    wt = torch.from_numpy(w / w.mean())
    net = ConvXNN(Z.shape[1:], n)
    net.scale = scale
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    for epoch in range(cfg["epochs"]):
        total = 0.0
        for idx in torch.randperm(len(Zt), generator=gen).split(cfg["batch_size"]):
            z = Zt[idx]
            e, pred, rec = net(z)
            loss = (wt[idx] * (pred - yt[idx]) ** 2).mean()
            loss = loss + cfg["beta"] * log_penalty(rec.flatten(1), z.flatten(1), cfg["q"])
            loss = loss + cfg["eta"] * pull_away(e.transpose(0, 1).flatten(1).T)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        log.info("conv XNN epoch %d loss %.4f", epoch + 1, total / len(Zt))
    return net.eval()


@torch.no_grad()
def predict(net, Z) -> np.ndarray:
    out = []
    for start in range(0, len(Z), 512):
        z = torch.from_numpy(np.asarray(Z[start : start + 512], np.float32) / net.scale)
        out.append(net(z)[1].numpy())
    return np.concatenate(out)
