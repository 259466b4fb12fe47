"""Training runs behind Figs. 4.3-4.6 and B.1: every method returns a per-epoch (or
per-iteration) history with cumulative training seconds and test accuracy."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...data import load_split
from ...models.zoo import MLP, SmallResNet
from ...optim.block_admm import BlockADMM, block_loss, mlp_blocks, run_epochs
from ...optim.layerwise import DLADMM, LayerwiseADMM, ZengBCD

CLOSED_FORM = {
    "admm": (LayerwiseADMM, {}),
    "taylor": (LayerwiseADMM, {"taylor": True}),
    "zeng": (ZengBCD, {}),
    "dladmm": (DLADMM, {}),
}


def _images(ds, n_max=None):
    """All images of a dataset as one float32 tensor (in-memory sets are sliced directly)."""
    n = min(len(ds), n_max or len(ds))
    if hasattr(ds, "images") and ds.transform is None:
        return torch.from_numpy(np.asarray(ds.images[:n], dtype=np.float32))
    return torch.stack([ds[i][0] for i in range(n)])


def flat_split(manifest, split, n_max=None):
    """``(X (N x d) float32 tensor, y)`` of a digits split, optionally the first n_max rows."""
    ds = load_split(manifest, split)
    X = _images(ds, n_max).flatten(1)
    return X, torch.from_numpy(ds.targets[: len(X)])


def image_split(manifest, split, size, n_max=None):
    """Images average-pooled to ``size`` x ``size`` (the Fig. 4.5 analogue runs at 32x32)."""
    ds = load_split(manifest, split)
    X = _images(ds, n_max)
    y = torch.from_numpy(ds.targets[: len(X)])
    if X.shape[-1] != size:
        X = nn.functional.adaptive_avg_pool2d(X, size)
    return X.contiguous(), y


def validation_split(X, y, fraction, seed):
    """A seeded hold-out of the training rows (tuning never sees the test split)."""
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    n_val = int(round(fraction * len(X)))
    va, tr = perm[:n_val], perm[n_val:]
    return X[tr], y[tr], X[va], y[va]


def accuracy(model, X, y, batch_size=1000):
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    return float((out.argmax(1) == y).float().mean())


def run_backprop(model, X, y, Xt, yt, optimizer, lr, loss, epochs, batch_size, seed, log=None):
    """Backprop with ``torch.optim.SGD`` or ``Adam`` (thesis: SGD lr 0.005, batch 128)."""
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    J = block_loss(loss)
    g = torch.Generator().manual_seed(seed)
    rows, seconds = [], 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(X), generator=g)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            (J(model(X[idx]), y[idx]) / len(idx)).backward()
            opt.step()
        seconds += time.perf_counter() - t0
        rows.append({"epoch": epoch, "seconds": seconds, "accuracy": accuracy(model, Xt, yt)})
    if log is not None:
        log.info(f"  {optimizer} lr={lr}: final {rows[-1]['accuracy']:.4f}")
    return rows


def run_block_admm(model, blocks, X, y, Xt, yt, hp, epochs, batch_size, seed, log=None):
    """Stochastic Block ADMM (``hp``: loss, beta, z_lr, lr, dual, inner)."""
    opt = BlockADMM(blocks, len(X), **hp)
    opt.train(False)
    opt.initialize(X)
    g = torch.Generator().manual_seed(seed)
    rows = run_epochs(
        opt, X, y, epochs, batch_size, g, lambda: {"accuracy": accuracy(model, Xt, yt)}
    )
    if log is not None:
        log.info(f"  block ADMM {hp}: final {rows[-1]['accuracy']:.4f}")
    return rows


def run_closed_form(method, X, y, Xt, yt, hidden, iterations, seed, params=None, log=None):
    """Full-batch ADMM / Taylor / Zeng BCD / dlADMM; one row per iteration."""
    cls, kw = CLOSED_FORM[method]
    opt = cls(X, y, hidden, int(y.max()) + 1, seed=seed, **kw, **(params or {}))
    rows, seconds = [], 0.0
    for it in range(1, iterations + 1):
        t0 = time.perf_counter()
        opt.step()
        seconds += time.perf_counter() - t0
        out = opt.predict(Xt)
        acc = float((out.argmax(1) == yt).float().mean()) if torch.isfinite(out).all() else 0.1
        rows.append({"epoch": it, "seconds": seconds, "accuracy": acc, "residual": opt.residual()})
    if log is not None:
        log.info(f"  {method}: final {rows[-1]['accuracy']:.4f}")
    return rows


def mlp(depth, width, seed, in_features=784):
    """An MLP with ``depth`` linear layers (``depth - 1`` hidden of ``width``)."""
    torch.manual_seed(seed)
    return MLP(10, in_features, [width] * (depth - 1))


def mlp_method(method, depth, width, data, cfg, seed, log=None):
    """One run of ``method`` on an MLP: ``block_admm``, ``gotmare``, ``sgd``, ``adam`` or a
    closed-form baseline."""
    X, y, Xt, yt = data
    if method in CLOSED_FORM:
        return run_closed_form(
            method,
            X,
            y,
            Xt,
            yt,
            [width] * (depth - 1),
            cfg["iterations"],
            seed,
            cfg.get("params", {}).get(method),
            log,
        )
    model = mlp(depth, width, seed, X.shape[1])
    if method in ("sgd", "adam"):
        return run_backprop(
            model,
            X,
            y,
            Xt,
            yt,
            method,
            cfg[f"{method}_lr"],
            cfg["loss"],
            cfg["epochs"],
            cfg["batch_size"],
            seed,
            log,
        )
    hp = dict(cfg["block_admm"], loss=cfg["loss"], dual=method == "block_admm")
    torch.manual_seed(seed)
    return run_block_admm(
        model, mlp_blocks(model), X, y, Xt, yt, hp, cfg["epochs"], cfg["batch_size"], seed, log
    )


def resnet_blocks(model, split_after: str):
    """Two blocks of a SmallResNet or torchvision ResNet split after stage ``split_after``
    (Fig. 4.5: ResNet-18 split after conv3_x = ``layer2``)."""
    if isinstance(model, SmallResNet):
        names, pool = ["stem", *model.stage_names], model.pool
    else:
        names, pool = ["conv1", "bn1", "relu", "maxpool", *model.stage_names], model.avgpool
    if split_after not in names:
        raise ValueError(f"split_after '{split_after}' is not one of {names}")
    cut = names.index(split_after) + 1
    first = nn.Sequential(*[getattr(model, n) for n in names[:cut]])
    rest = [getattr(model, n) for n in names[cut:]]
    second = nn.Sequential(*rest, pool, nn.Flatten(), model.fc)
    return [first, second]


def frame(rows, **cols) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    for k, v in cols.items():
        out[k] = v
    return out


def final_rows(history: pd.DataFrame, keys) -> pd.DataFrame:
    """The last epoch of every run."""
    last = history.sort_values("epoch").groupby(keys, as_index=False).tail(1)
    return last.reset_index(drop=True)


def mean_interval(values) -> tuple[float, str]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), f"runs {len(values)}: [{values.min():.3f}, {values.max():.3f}]"
