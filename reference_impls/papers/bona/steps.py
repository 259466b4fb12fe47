"""One function per rule ``bona_<step>`` (``workflow/rules/bona.smk``), each
``step(inp, out, params, log)``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...claims import claims_frame, results_frame
from ...data import read_manifest
from . import claims as bona_claims
from . import experiments as ex
from . import figures


def _load(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def patches(inp, out, params, log):
    """Phases 1-2 of one setting: rank (95% rule), per-image NMF, LoG patches, GAP features."""
    data = ex.extract_setting(
        params.setting,
        params.cfg,
        inp.manifest,
        inp.checkpoint,
        [inp.fit_cache, inp.eval_cache],
        params.seed,
        log,
    )
    np.savez(out[0], **data)


def clusters(inp, out, params, log):
    """Phases 3-4 of one setting: DEC (Algorithm 1, d by Fisher score), histograms."""
    n_classes = len(
        read_manifest(inp.manifest)["classes"][
            "probe" if params.cfg["settings"][params.setting]["fit_split"] == "probe" else "train"
        ]
    )
    result = ex.cluster_setting(_load(inp.patches), params.cfg, n_classes, params.seed, log)
    np.savez(out[0], **result)


def table1(inp, out, params, log):
    """Table 1: BONA alone, each CNN (retrained softmax on its pooled features), CNN + BONA."""
    cfg, settings = params.cfg, list(params.cfg["settings"])
    rows = []
    for s, setting in enumerate(settings):
        data, clus = _load(inp.patches[s]), _load(inp.clusters[s])
        caches = {
            m: (
                inp.cnn_fit[s * len(cfg["cnn_models"]) + i],
                inp.cnn_eval[s * len(cfg["cnn_models"]) + i],
            )
            for i, m in enumerate(cfg["cnn_models"])
        }
        rows += ex.table1_rows(setting, data, clus, caches, cfg, params.seed, log)
    pd.DataFrame(rows).to_csv(out.table, index=False)


def fig2(inp, out, params, log):
    """Fig. 2: NMF components, blobs and patches of a few images; blob centres on parts."""
    datas = [_load(p) for p in inp.patches]
    setting = list(params.cfg["settings"])[0]
    source = ex.setting_source(inp.manifest, params.cfg, setting, datas[0])
    figures.plot_fig2(datas[0], source, out.figure, params.cfg)
    ex.blob_localisation(datas, list(params.cfg["settings"]), params.seed).to_csv(
        out.table, index=False
    )


def _cluster_figure(inp, out, params, log, title):
    data, clus = _load(inp.patches), _load(inp.clusters)
    cfg = params.cfg
    rows, control, top = ex.purity_table(
        data, clus, cfg["top_members"], cfg["random_sets"], params.seed
    )
    table = pd.DataFrame(rows)
    table["control_mean"] = float(control.mean())
    table["control_p95"] = float(np.percentile(control, 95))
    table.to_csv(out.table, index=False)
    source = ex.setting_source(inp.manifest, cfg, params.setting, data)
    figures.plot_cluster_members(data, source, clus, top, table, out.figure, title)


def fig5(inp, out, params, log):
    """Fig. 5 analogue (the paper's ImageNet subset; default: in-domain classes): top-5 members of the activation clusters."""
    _cluster_figure(inp, out, params, log, f"{params.setting} (Fig. 5 analogue)")


def fig6(inp, out, params, log):
    """Fig. 6 analogue (the paper's Stanford Cars; default: unseen probe classes): top-5 members of the activation clusters."""
    _cluster_figure(inp, out, params, log, f"{params.setting} (Fig. 6 analogue)")


def claims(inp, out, params, log):
    """results.csv (long) and claims.csv from the artefacts' tables."""
    table1 = pd.read_csv(inp.table1)
    blobs = pd.read_csv(inp.fig2)
    purity = {"Fig. 5": pd.read_csv(inp.fig5), "Fig. 6": pd.read_csv(inp.fig6)}
    settings = list(params.cfg["settings"])
    datas = {s: _load(p) for s, p in zip(settings, inp.patches)}
    cluss = {s: _load(p) for s, p in zip(settings, inp.clusters)}
    results = bona_claims.results_rows(table1, blobs, purity, datas, cluss, params.cfg)
    results_frame(results).to_csv(out.results, index=False)
    claims_frame(bona_claims.claim_rows(table1, blobs, purity, datas, cluss, params.cfg)).to_csv(
        out.claims, index=False
    )
