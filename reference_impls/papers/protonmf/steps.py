"""One function per rule ``protonmf_<step>`` (workflow/rules/protonmf.smk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...utils import derive_seed
from . import experiments as ex
from . import figures
from .claims import write_claims
from .experiments import PAPER


def _csv(frame: pd.DataFrame, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6g")


def prototypes(inp, out, params, log):
    """Step 1 + 2 (Sec. 3.1-3.2) for every p on the training split of one model."""
    cache = ex.load_cache(inp.acts)
    weight, bias, _ = ex.linear_head(inp.checkpoint)
    fits = ex.fit_prototypes(
        cache["activations"],
        cache["labels"],
        weight,
        bias,
        params.cfg,
        params.seed,
        params.model,
        log,
    )
    ex.save_fits(out[0], fits)


def table3(inp, out, params, log):
    """Table 3: NMF only / residual only / NMF + residual (+ augmented, random control)."""
    frames = []
    for m, f, acts, ckpt in zip(params.models, inp.fits, inp.acts, inp.checkpoints):
        weight, bias, _ = ex.linear_head(ckpt)
        frames.append(
            ex.table3(
                ex.load_fits(f),
                ex.load_cache(acts),
                weight,
                bias,
                m,
                params.seed,
                params.cfg["bootstrap"],
            )
        )
    _csv(pd.concat(frames, ignore_index=True), out.table)


def fig5(inp, out, params, log):
    """Fig. 5: feature and head reconstruction errors against p."""
    frames = []
    for m, f, ckpt in zip(params.models, inp.fits, inp.checkpoints):
        weight, _, _ = ex.linear_head(ckpt)
        frames.append(ex.fig5_table(ex.load_fits(f), weight, params.seed, m))
    table = pd.concat(frames, ignore_index=True)
    _csv(table, out.table)
    figures.fig5(table, out.figure)


def table4(inp, out, params, log):
    """Table 4: test-time intervention on wrong predictions."""
    frames = [
        ex.table4(ex.load_fits(f), ex.load_cache(a), m, params.seed)
        for m, f, a in zip(params.models, inp.fits, inp.acts)
    ]
    _csv(pd.concat(frames, ignore_index=True), out.table)


def fig3(inp, out, params, log):
    """Fig. 3: p prototypes of one class in each architecture, and their part localisation
    (every class) against a random non-negative bank."""
    cfg = params.cfg
    p = cfg["heatmap_p"]
    shown, frames = [], []
    for i, m in enumerate(params.models):
        est = ex.load_fits(inp.fits[i])[p]
        data = ex.PartImages(inp.manifests[i], cfg["eval_split"], ex.load_cache(inp.acts[i]))
        frames.append(ex.localisation(est, data, cfg["localisation_images"], params.seed, m))
        shown.append((m, est, data))
    loc = pd.concat(frames, ignore_index=True)
    _csv(loc, out.table)
    figures.presence_grid(
        [(m, data, [(f"p={p}", est)]) for m, est, data in shown],
        cfg["figure_class"],
        cfg["heatmap_images"],
        out.figure,
        f"Fig. 3 analogue: {p} NMF prototypes per architecture (class {cfg['figure_class']})",
    )


def fig4(inp, out, params, log):
    """Fig. 4: presence of p = 1, 3, 5, 10 prototypes on the same images (first model)."""
    cfg = params.cfg
    fits = ex.load_fits(inp.fits)
    data = ex.PartImages(inp.manifest, cfg["eval_split"], ex.load_cache(inp.acts))
    figures.presence_grid(
        [(params.model, data, [(f"p={p}", est) for p, est in fits.items()])],
        cfg["figure_class"],
        cfg["heatmap_images"],
        out.figure,
        f"Fig. 4 analogue: different numbers of prototypes ({params.model})",
    )
    frames = [
        ex.localisation(est, data, cfg["localisation_images"], params.seed, params.model).assign(
            p=p
        )
        for p, est in fits.items()
    ]
    loc = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not loc.empty:
        loc = loc[loc.bank == "nmf"]
        g = loc.groupby(["model", "p", "class"])
        loc = pd.DataFrame(
            {
                "diversity": g["part"].nunique() / g["concept"].count(),
                "enrichment": g["enrichment"].mean(),
            }
        ).reset_index()
    _csv(loc, out.table)


def fig7(inp, out, params, log):
    """Fig. 7 / App. A.2: original vs augmented (Eq. 9) prototypes, and the residual (Eq. 6)."""
    cfg = params.cfg
    est = ex.load_fits(inp.fits)[cfg["heatmap_p"]]
    data = ex.PartImages(inp.manifest, cfg["eval_split"], ex.load_cache(inp.acts))
    table = ex.augmented_agreement(est, data, cfg["localisation_images"])
    _csv(table, out.table)
    figures.fig7(est, data, cfg["figure_class"], cfg["heatmap_images"], out.figure, params.model)


def fig9(inp, out, params, log):
    """Fig. 9: one wrong prediction corrected by removing the predicted class's top
    prototype (the first such test image in cache order)."""
    cfg = params.cfg
    est = ex.load_fits(inp.fits)[cfg["heatmap_p"]]
    data = ex.PartImages(inp.manifest, cfg["eval_split"], ex.load_cache(inp.acts))
    figures.fig9(est, data, out.figure, params.model)


def protopnet(inp, out, params, log):
    """ProtoPNet on one model and seed: per-cycle checkpoints and Table 1 rows."""
    torch.manual_seed(params.seed)
    cfg, nmf_cfg = params.cfg["protopnet"], params.cfg
    tr, te = ex.load_activations_pair(inp.train, inp.test)
    sel = ex.select_class_images(tr["labels"], cfg["images_per_class"], params.seed, PAPER)
    idx = np.sort(np.concatenate(list(sel.values())))
    _, _, model = ex.linear_head(inp.checkpoint)
    rows, states = ex.protopnet_run(
        model,
        tr["activations"][idx],
        tr["labels"][idx],
        te["activations"],
        te["labels"],
        cfg,
        params.stages,
        derive_seed(params.seed, PAPER, "protopnet", params.model),
        nmf_cfg,
        log,
    )
    rows.insert(0, "model", params.model)
    rows["seed"] = params.seed
    _csv(rows, out.table)
    torch.save(dict(states=states, train_rows=torch.as_tensor(idx)), out.states)


def table1(inp, out, params, log):
    """Table 1: class-feature reconstruction error with 10 prototypes, cycles 1-3 (mean and
    sd over classes and seeds)."""
    runs = pd.concat([pd.read_csv(f) for f in inp.runs], ignore_index=True)
    g = runs.groupby(["model", "cycle"])
    table = g[["protopnet", "nmf", "random_patches", "test_accuracy"]].agg(["mean", "std"])
    table.columns = [f"{a}_{b}" for a, b in table.columns]
    _csv(table.reset_index(), out.table)


def table2(inp, out, params, log):
    """Table 2: accuracy of the black box, ProtoNMF (exact reconstruction) and ProtoPNet."""
    runs = pd.concat([pd.read_csv(f) for f in inp.runs], ignore_index=True)
    t3 = pd.read_csv(inp.table3)
    rows = []
    for m in params.models:
        exact = t3[(t3.model == m) & (t3.variant == "exact")]
        rows.append(dict(model=m, method="black box", accuracy=exact.original.iloc[0]))
        rows.append(
            dict(
                model=m,
                method="ProtoNMF",
                accuracy=exact.accuracy.min(),
                agreement=exact.agreement.min(),
            )
        )
        acc = runs[runs.model == m].groupby(["cycle", "seed"]).test_accuracy.first()
        for cycle, s in acc.groupby(level=0):
            rows.append(
                dict(
                    model=m,
                    method=f"ProtoPNet cycle {cycle}",
                    accuracy=s.mean(),
                    seed_min=s.min(),
                    seed_max=s.max(),
                )
            )
    _csv(pd.DataFrame(rows), out.table)


def fig2(inp, out, params, log):
    """Fig. 2: ProtoPNet's prototype patches vs NMF prototype areas over cycles (one model,
    one seed), with their stability across cycles."""
    cfg = params.cfg
    tr, te = ex.load_activations_pair(inp.train, inp.test)
    _, _, model = ex.linear_head(inp.checkpoint)
    saved = torch.load(inp.states, weights_only=False)
    data = ex.PartImages(inp.manifest, cfg["eval_split"], te)
    table = figures.fig2(model, saved, tr, data, cfg, params.stages, params.seed, out.figure)
    _csv(table, out.table)


def claims(inp, out, params, log):
    """results.csv and claims.csv from every artefact table."""
    write_claims(inp, out, params)
