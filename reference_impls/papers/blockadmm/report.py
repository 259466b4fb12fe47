"""Figures 4.3-4.6 and B.1, results.csv and claims.csv from the run histories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...claims import claim, claims_frame, results_frame
from ...figures import plt, save
from .experiments import mean_interval

ID = "blockadmm"
LABELS = {
    "block_admm": "Stochastic Block ADMM",
    "gotmare": "Gotmare et al. (no duals)",
    "sgd": "SGD (backprop)",
    "adam": "Adam (backprop)",
    "admm": "standard ADMM (Alg. 1)",
    "taylor": "Taylor et al.",
    "zeng": "Zeng et al. BCD",
    "dladmm": "dlADMM",
}
CHANCE = 0.1  # 10 balanced classes: the accuracy of a constant or random predictor


def _curves(ax, hist, x="epoch", methods=None):
    for method in methods or hist["method"].unique():
        h = hist[hist["method"] == method]
        if h.empty:
            continue
        g = h.groupby(x if x == "epoch" else "epoch")
        mean, std = g["accuracy"].mean(), g["accuracy"].std().fillna(0)
        xs = g[x].mean() if x != "epoch" else mean.index
        ax.plot(xs, mean.values, label=LABELS.get(method, method))
        ax.fill_between(xs, (mean - std).values, (mean + std).values, alpha=0.2)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _final(hist):
    last = hist.sort_values("epoch").groupby(["method", "depth", "run"], as_index=False).tail(1)
    return last


def _acc(final, method, depth=None):
    sel = final[final["method"] == method]
    if depth is not None:
        sel = sel[sel["depth"] == depth]
    if sel.empty:
        raise ValueError(f"no runs of {method} (depth {depth}) in the histories")
    return mean_interval(sel["accuracy"])


def _time_to(hist, method, target):
    """Mean over runs of the training seconds at which test accuracy first reaches target
    (inf when a run never does)."""
    out = []
    for _, h in hist[hist["method"] == method].groupby("run"):
        hit = h[h["accuracy"] >= target]
        out.append(float(hit["seconds"].min()) if len(hit) else np.inf)
    return float(np.mean(out))


def _figures(h43, hcl, h44, h45, hb1, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _curves(axes[0], h43)
    axes[0].set_xlabel("epoch (minibatch 128)")
    axes[0].set_title("minibatch methods")
    _curves(axes[1], hcl)
    axes[1].set_xlabel("full-batch iteration")
    axes[1].set_title("full-batch layer-wise methods")
    fig.suptitle("Fig. 4.3 analogue: 784-128-128-10 MLP on mnist5k (mean ± std over runs)")
    save(fig, out.fig43)

    depths = sorted(h44["depth"].unique())
    fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 4), squeeze=False)
    for ax, d in zip(axes[0], depths):
        _curves(ax, h44[h44["depth"] == d])
        ax.set_xlabel("epoch")
        ax.set_title(f"{d} layers")
    fig.suptitle("Fig. 4.4 analogue: deep MLPs (MSE) on mnist5k")
    save(fig, out.fig44)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    _curves(ax, h45)
    ax.set_xlabel("epoch")
    ax.set_title("Fig. 4.5 analogue: SmallResNet in 2 blocks (parts, 16x16)")
    save(fig, out.fig45)

    fig, ax = plt.subplots(figsize=(6, 4))
    _curves(ax, pd.concat([h43, hcl]), x="seconds")
    ax.set_xlabel("training wall time (s, 1 thread)")
    ax.set_xscale("log")
    ax.set_title("Fig. 4.6 analogue: test accuracy vs wall-clock time")
    save(fig, out.fig46)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    _curves(ax, hb1)
    ax.set_xlabel("epoch / full-batch iteration")
    width = int(hb1["width"].iloc[0])
    ax.set_title(f"Fig. B.1 analogue: 784-{width}-{width}-10, cross-entropy")
    save(fig, out.figb1)


def _results(finals, dataset):
    rows = []
    for exp, final in finals.items():
        for (method, depth), g in final.groupby(["method", "depth"]):
            base = dict(
                paper=ID,
                experiment=exp,
                method=method,
                dataset=dataset(exp),
                model=f"depth{depth}",
                layer="",
            )
            rows.append(dict(base, seed="mean", metric="test_accuracy", value=g["accuracy"].mean()))
            for r in g.itertuples():
                rows.append(dict(base, seed=r.run, metric="test_accuracy_seed", value=r.accuracy))
            rows.append(dict(base, seed="mean", metric="train_seconds", value=g["seconds"].mean()))
    return results_frame(rows)


def write_report(inp, out, params, log):
    h43, hcl = pd.read_csv(inp.fig43), pd.read_csv(inp.fig43_closed)
    h44, h45, hb1 = pd.read_csv(inp.fig44), pd.read_csv(inp.fig45), pd.read_csv(inp.figb1)
    _figures(h43, hcl, h44, h45, hb1, out)
    for src, dst in (
        (h43, out.fig43_csv),
        (h44, out.fig44_csv),
        (h45, out.fig45_csv),
        (hb1, out.figb1_csv),
    ):
        src.to_csv(dst, index=False)
    hcl.to_csv(out.fig43_closed_csv, index=False)
    f43, fcl, f44, f45, fb1 = map(_final, (h43, hcl, h44, h45, hb1))
    f43all = pd.concat([f43, fcl])
    finals = {"fig4.3": f43all, "fig4.4": f44, "fig4.5": f45, "figB.1": fb1}
    _results(finals, lambda e: "parts" if e == "fig4.5" else params.dataset).to_csv(
        out.results, index=False
    )
    rows = _claims(f43all, f44, f45, fb1, pd.concat([h43, hcl]), h43)
    claims_frame(rows).to_csv(out.claims, index=False)
    log.info(f"{sum(r['holds'] for r in rows)} of {len(rows)} claims hold")


def _pct(x):
    return round(100 * x, 2)


def _claims(f43, f44, f45, fb1, h46, h43):
    ba, ba_iv = _acc(f43, "block_admm")
    rows = []
    others = {m: _acc(f43, m)[0] for m in ("admm", "taylor", "zeng")}
    rows.append(
        claim(
            ID,
            "shallow_best_admm",
            source="Fig. 4.3",
            statement="Block ADMM beats standard ADMM, Taylor et al. and Zeng et al. on the 3-layer MLP",
            paper_value="97.53 (text 97.09) vs 95.02 / 87.52 / 83.28",
            our_value=f"{_pct(ba)} vs " + " / ".join(f"{_pct(v)}" for v in others.values()),
            control_value=CHANCE,
            interval=f"Block ADMM {ba_iv}",
            comparison="Block ADMM > each",
            holds=bool(all(ba > v for v in others.values())),
            note="embedded: mnist5k (4,000 train), fewer epochs/iterations than the thesis",
        )
    )
    sgd, sgd_iv = _acc(f43, "sgd")
    rows.append(
        claim(
            ID,
            "shallow_beats_sgd",
            source="Fig. 4.3",
            statement="Block ADMM reaches at least SGD's accuracy (MSE, lr 0.005)",
            paper_value="97.53 vs 95.29",
            our_value=f"{_pct(ba)} vs {_pct(sgd)}",
            control_value=CHANCE,
            interval=f"SGD {sgd_iv}",
            comparison="Block ADMM >= SGD",
            holds=bool(ba >= sgd),
        )
    )
    rows.append(
        claim(
            ID,
            "all_duals_help",
            source="Fig. 4.3",
            statement="standard ADMM (all duals) beats Taylor et al. (output dual only)",
            paper_value="95.02 vs 87.52",
            our_value=f"{_pct(others['admm'])} vs {_pct(others['taylor'])}",
            control_value=CHANCE,
            interval=f"ADMM {_acc(f43, 'admm')[1]}",
            comparison="ADMM > Taylor",
            holds=bool(others["admm"] > others["taylor"]),
        )
    )
    s10, s10_iv = _acc(f44, "sgd", 10)
    s20, _ = _acc(f44, "sgd", 20)
    rows.append(
        claim(
            ID,
            "deep_sgd_fails",
            source="Fig. 4.4",
            statement="SGD fails (< 20%) on the 10- and 20-layer MLPs",
            paper_value="10.28 (10 layers)",
            our_value=f"{_pct(s10)} / {_pct(s20)}",
            control_value=CHANCE,
            interval=f"10 layers {s10_iv}",
            comparison="both < 20",
            holds=bool(s10 < 0.2 and s20 < 0.2),
        )
    )
    b10, b10_iv = _acc(f44, "block_admm", 10)
    b20, b20_iv = _acc(f44, "block_admm", 20)
    rows.append(
        claim(
            ID,
            "deep_trains",
            source="Fig. 4.4",
            statement="Block ADMM trains the 10-layer MLP where SGD fails (>= 80% and > SGD + 50 pts)",
            paper_value=94.43,
            our_value=_pct(b10),
            control_value=_pct(s10),
            interval=b10_iv,
            comparison=">= 80 and > SGD + 50",
            holds=bool(b10 >= 0.8 and b10 > s10 + 0.5),
            note="embedded: few epochs; the reproduction note's prototype plateaued at 0.64-0.66",
        )
    )
    rows.append(
        claim(
            ID,
            "deep20_trains",
            source="Fig. 4.4",
            statement="Block ADMM trains the 20-layer MLP (>= 70%)",
            paper_value=91.75,
            our_value=_pct(b20),
            control_value=_pct(s20),
            interval=b20_iv,
            comparison=">= 70",
            holds=bool(b20 >= 0.7),
        )
    )
    a10, a10_iv = _acc(f44, "adam", 10)
    rows.append(
        claim(
            ID,
            "deep_beats_adam",
            source="Fig. 4.4",
            statement="Adam fails on the 10-layer MLP and Block ADMM beats it",
            paper_value="94.43 vs 58",
            our_value=f"{_pct(b10)} vs {_pct(a10)}",
            control_value=CHANCE,
            interval=f"Adam {a10_iv}",
            comparison="Block ADMM > Adam",
            holds=bool(b10 > a10),
            note="Adam with PyTorch's default init and lr 1e-3; the thesis does not state its init",
        )
    )
    r_ba, r_iv = _acc(f45, "block_admm")
    r_go, _ = _acc(f45, "gotmare")
    r_sgd, r_sgd_iv = _acc(f45, "sgd")
    rows.append(
        claim(
            ID,
            "resnet_beats_gotmare",
            source="Fig. 4.5",
            statement="on the 2-block ResNet, Block ADMM beats Gotmare et al. (no duals)",
            paper_value="89.66 vs 87.12",
            our_value=f"{_pct(r_ba)} vs {_pct(r_go)}",
            control_value=CHANCE,
            interval=f"Block ADMM {r_iv}",
            comparison="Block ADMM > Gotmare",
            holds=bool(r_ba > r_go),
        )
    )
    rows.append(
        claim(
            ID,
            "resnet_near_sgd",
            source="Fig. 4.5",
            statement="Block ADMM within a few (<= 5) points of backprop SGD on the split ResNet",
            paper_value="89.66 vs 92.70",
            our_value=f"{_pct(r_ba)} vs {_pct(r_sgd)}",
            control_value=CHANCE,
            interval=f"SGD {r_sgd_iv}",
            comparison="SGD - Block ADMM <= 5 pts",
            holds=bool(r_sgd - r_ba <= 0.05),
        )
    )
    target = 0.85
    t_ba, t_go, t_dl = (_time_to(h46, m, target) for m in ("block_admm", "gotmare", "dladmm"))
    rows.append(
        claim(
            ID,
            "time_to_acc",
            source="Fig. 4.6",
            statement="Block ADMM reaches 85% test accuracy sooner than Gotmare et al. and dlADMM",
            paper_value="qualitative (Block ADMM fast, Gotmare and dlADMM much slower)",
            our_value=f"{t_ba:.1f} s vs {t_go:.1f} s / {t_dl:.1f} s",
            control_value="",
            interval="mean over runs (inf: never reached)",
            comparison="Block ADMM < both",
            holds=bool(t_ba < t_go and t_ba < t_dl),
            note="1-thread CPU wall time under shared load; only the direction is claimed",
        )
    )
    w_ba, w_iv = _acc(fb1, "block_admm")
    w_dl, _ = _acc(fb1, "dladmm")
    rows.append(
        claim(
            ID,
            "beats_dladmm",
            source="Fig. B.1",
            statement="Block ADMM beats dlADMM on the wide 3-layer MLP (cross-entropy)",
            paper_value="90.39 vs 84.67 (Fashion-MNIST, width 1000)",
            our_value=f"{_pct(w_ba)} vs {_pct(w_dl)}",
            control_value=CHANCE,
            interval=w_iv,
            comparison="Block ADMM > dlADMM",
            holds=bool(w_ba > w_dl),
            note="embedded: mnist5k and a narrower net (see the artefact index)",
        )
    )
    res = h43[h43["method"] == "block_admm"].groupby("epoch")["residual"].mean()
    rows.append(
        claim(
            ID,
            "residual_decreases",
            source="Fig. 4.3",
            statement="Block ADMM's constraint residual falls to <= 0.1 x its first-epoch value",
            paper_value="Prop. 1 (KKT limit points)",
            our_value=f"{res.iloc[0]:.4g} -> {res.iloc[-1]:.4g}",
            control_value="",
            interval="mean over runs",
            comparison="last <= 0.1 x first",
            holds=bool(res.iloc[-1] <= 0.1 * res.iloc[0]),
        )
    )
    return rows
