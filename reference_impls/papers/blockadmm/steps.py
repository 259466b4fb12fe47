"""One function per rule ``blockadmm_<step>``: ``step(inp, out, params, log)``."""

from __future__ import annotations

import itertools

import pandas as pd
import torch

from ...models.zoo import build_model
from ...utils import derive_seed
from . import experiments as ex
from .report import write_report

ID = "blockadmm"


def _seed(params, *axes):
    return derive_seed(params.seed, ID, *axes)


def _tune(cfg, X, y, seed, log):
    """Block ADMM's (zeta, eta) grid on a validation hold-out of the training split; returns
    the grid table and the chosen hyper-parameters (best validation accuracy)."""
    Xtr, ytr, Xva, yva = ex.validation_split(X, y, cfg["val_fraction"], seed)
    rows = []
    for z_lr, lr in itertools.product(cfg["grid"]["z_lr"], cfg["grid"]["lr"]):
        sub = dict(
            cfg, epochs=cfg["grid_epochs"], block_admm=dict(cfg["block_admm"], z_lr=z_lr, lr=lr)
        )
        hist = ex.mlp_method(
            "block_admm", cfg["depth"], cfg["width"], (Xtr, ytr, Xva, yva), sub, seed
        )
        rows.append({"z_lr": z_lr, "lr": lr, "val_accuracy": hist[-1]["accuracy"]})
        log.info(f"grid z_lr={z_lr} lr={lr}: validation {rows[-1]['val_accuracy']:.4f}")
    grid = pd.DataFrame(rows)
    best = grid.loc[grid["val_accuracy"].idxmax()]
    grid["chosen"] = (grid["z_lr"] == best["z_lr"]) & (grid["lr"] == best["lr"])
    return grid, dict(cfg["block_admm"], z_lr=float(best["z_lr"]), lr=float(best["lr"]))


def _mlp_runs(cfg, data, methods, depths, params, log, tag):
    frames = []
    for depth, method, s in itertools.product(depths, methods, cfg["seeds"]):
        seed = _seed(params, tag, depth, s)
        log.info(f"{tag}: depth {depth}, {method}, run {s}")
        rows = ex.mlp_method(method, depth, cfg["width"], data, cfg, seed, log)
        frames.append(ex.frame(rows, method=method, depth=depth, width=cfg["width"], run=s))
    return pd.concat(frames, ignore_index=True)


def fig43(inp, out, params, log):
    """Fig. 4.3 (+ Fig. 4.6 timings): 784-128-128-10 MLP, MSE; Block ADMM tuned on a
    validation hold-out, then Block ADMM, Gotmare et al. (no duals), SGD, Adam."""
    cfg = params.cfg["shallow"]
    X, y = ex.flat_split(inp.manifest, "train")
    Xt, yt = ex.flat_split(inp.manifest, "test")
    grid, chosen = _tune(cfg, X, y, _seed(params, "grid"), log)
    grid.to_csv(out.grid, index=False)
    cfg = dict(cfg, block_admm=chosen)
    hist = _mlp_runs(cfg, (X, y, Xt, yt), cfg["methods"], [cfg["depth"]], params, log, "fig43")
    hist.to_csv(out.history, index=False)


def fig43_closed(inp, out, params, log):
    """Fig. 4.3 baselines with full-batch updates: standard ADMM (Alg. 1), Taylor et al.,
    Zeng et al. BCD, dlADMM (MSE for the first three as in the thesis, CE for dlADMM)."""
    cfg = params.cfg["closed"]
    X, y = ex.flat_split(inp.manifest, "train")
    Xt, yt = ex.flat_split(inp.manifest, "test")
    hist = _mlp_runs(cfg, (X, y, Xt, yt), cfg["methods"], [cfg["depth"]], params, log, "closed")
    hist.to_csv(out.history, index=False)


def fig44(inp, out, params, log):
    """Fig. 4.4: 10- and 20-layer MLPs, Block ADMM (hyper-parameters chosen in fig43's
    grid) vs SGD vs Adam."""
    cfg = params.cfg["deep"]
    grid = pd.read_csv(inp.grid)
    best = grid[grid["chosen"]].iloc[0]
    cfg = dict(
        cfg, block_admm=dict(cfg["block_admm"], z_lr=float(best["z_lr"]), lr=float(best["lr"]))
    )
    X, y = ex.flat_split(inp.manifest, "train")
    Xt, yt = ex.flat_split(inp.manifest, "test")
    hist = _mlp_runs(cfg, (X, y, Xt, yt), cfg["methods"], cfg["depths"], params, log, "fig44")
    hist.to_csv(out.history, index=False)


def figb1(inp, out, params, log):
    """Fig. B.1: wide 784-W-W-10 MLP with cross-entropy, Block ADMM vs dlADMM."""
    cfg = params.cfg["wide"]
    X, y = ex.flat_split(inp.manifest, "train")
    Xt, yt = ex.flat_split(inp.manifest, "test")
    hist = _mlp_runs(cfg, (X, y, Xt, yt), cfg["methods"], [cfg["depth"]], params, log, "figb1")
    hist.to_csv(out.history, index=False)


def fig45(inp, out, params, log):
    """Fig. 4.5: a small ResNet split in two blocks (after ``split_after``), trained from
    scratch by Block ADMM, Gotmare et al. (no duals) and backprop SGD."""
    cfg = params.cfg["resnet"]
    X, y = ex.image_split(inp.manifest, "train", cfg["image_size"], cfg["n_train"])
    Xt, yt = ex.image_split(inp.manifest, "test", cfg["image_size"], cfg["n_test"])
    n_classes = int(y.max()) + 1
    frames = []
    for method, s in itertools.product(cfg["methods"], cfg["seeds"]):
        seed = _seed(params, "fig45", s)
        torch.manual_seed(seed)
        model = build_model(cfg["arch"], n_classes, in_channels=X.shape[1])
        log.info(f"fig45: {method}, run {s}")
        if method in ("sgd", "adam"):
            rows = ex.run_backprop(
                model,
                X,
                y,
                Xt,
                yt,
                method,
                cfg[f"{method}_lr"],
                "ce",
                cfg["epochs"],
                cfg["batch_size"],
                seed,
                log,
            )
        else:
            hp = dict(cfg["block_admm"], loss="ce", dual=method == "block_admm")
            blocks = ex.resnet_blocks(model, cfg["split_after"])
            rows = ex.run_block_admm(
                model, blocks, X, y, Xt, yt, hp, cfg["epochs"], cfg["batch_size"], seed, log
            )
        frames.append(ex.frame(rows, method=method, depth=2, width=0, run=s))
    pd.concat(frames, ignore_index=True).to_csv(out.history, index=False)


def claims(inp, out, params, log):
    """Figures 4.3-4.6 and B.1 from the run histories, results.csv and claims.csv."""
    write_report(inp, out, params, log)
