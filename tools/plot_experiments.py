#!/usr/bin/python3
"""Draw the paper-reproduction figures from tools/paper_experiments.sh output.

    /usr/bin/python3 tools/plot_experiments.py [OUTDIR]      (default docs/experiments)

Reads OUTDIR/data/*.json (brownout sweep / calibrate-erasure --json), writes
OUTDIR/fig1_architectures.png and OUTDIR/fig2_arch_energy.png (from
tools/arch_experiments.sh's fig1_*.json), OUTDIR/fig3_bm_vs_erasure.png,
OUTDIR/fig4_per_block.png, OUTDIR/fig5_energy.png (from
tools/paper_experiments.sh's) and OUTDIR/data/summary.json, and prints the key
numbers as Markdown tables (docs/experiments.md quotes them).  A figure whose
data files are all missing is skipped with a note.  Needs Debian's
python3-matplotlib.
"""
import json
import math
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BLOCKS = ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]
DROP = 0.01  # "accuracy drops by 1 point"


def load(out, name):
    with open(os.path.join(out, "data", name + ".json")) as f:
        return json.load(f)


def half(pt):
    return (pt["ci95"][1] - pt["ci95"][0]) / 2


def curve(ax, xs, pts, color, label, marker="o", dots=True):
    """Mean line, 95 % CI as a shaded band (clipped to [0, 1]), trials as dots."""
    ys = [pt["accuracy_mean"] for pt in pts]
    lo = [max(0.0, pt["ci95"][0]) for pt in pts]
    hi = [min(1.0, pt["ci95"][1]) for pt in pts]
    ax.fill_between(xs, lo, hi, color=color, alpha=0.18, linewidth=0)
    ax.plot(xs, ys, marker=marker, color=color, label=label, markersize=4, linewidth=1.5)
    if dots:
        for x, pt in zip(xs, pts):
            t = pt["trial_accuracies"]
            ax.plot([x] * len(t), t, ".", color=color, alpha=0.35, markersize=3)


def drop_p(pts, clean, drop=DROP):
    """Smallest p where the mean falls below clean - drop (log-linear interpolation)."""
    level = clean - drop
    prev = None
    for pt in pts:
        if pt["accuracy_mean"] < level:
            if prev is None:
                return pt["p"]
            a0, a1 = prev["accuracy_mean"], pt["accuracy_mean"]
            l0, l1 = math.log(prev["p"]), math.log(pt["p"])
            return math.exp(l0 + (a0 - level) / (a0 - a1) * (l1 - l0))
        prev = pt
    return None


def interp(x, xs, ys):
    """Linear interpolation of ys at x over increasing xs; None outside."""
    for i in range(len(xs) - 1):
        if xs[i] <= x <= xs[i + 1]:
            t = (x - xs[i]) / (xs[i + 1] - xs[i])
            return ys[i] + t * (ys[i + 1] - ys[i])
    return None


def frontier_energy(refs, a):
    """Spec section 6: E_ref(a) on the references' frontier, linear in log E; None outside."""
    front = []
    for r in sorted(refs, key=lambda r: r["energy"]):
        if not front or r["accuracy"] > front[-1]["accuracy"]:
            front.append(r)
    for r0, r1 in zip(front, front[1:]):
        if r0["accuracy"] <= a <= r1["accuracy"]:
            t = (a - r0["accuracy"]) / (r1["accuracy"] - r0["accuracy"])
            return math.exp(math.log(r0["energy"]) + t * math.log(r1["energy"] / r0["energy"]))
    if len(front) == 1 and a == front[0]["accuracy"]:
        return front[0]["energy"]
    return None


def reduction(refs, a, energy):
    e = frontier_energy(refs, a)
    return e / energy if e is not None else None


def fmt_r(r):
    return f"{r:.2f}x"


def fmt_p(p):
    return f"{p:.3g}"


def acc(pt):
    return f"{pt['accuracy_mean']:.4f} ± {half(pt):.4f}"


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


def style(ax, xlabel, ylabel, logx=True):
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


# Figs. 1 and 2: (data file suffix, label, colour, marker), one per network
ARCHS = [
    ("preact_f8", "PreActResNet18 F = 8", "tab:blue", "o"),
    ("resnet18_f8", "ResNet18 F = 8", "tab:green", "s"),
    ("senet18_f8", "SENet18 F = 8", "tab:red", "^"),
    ("mobilenetv2_w25", "MobileNetV2 x0.25", "tab:purple", "D"),
]


def fig12(out, summary):
    have = [a for a in ARCHS if os.path.exists(os.path.join(out, "data", f"fig1_{a[0]}.json"))]
    for a in ARCHS:
        if a not in have:
            print(f"(Figs. 1 and 2: no data/fig1_{a[0]}.json, {a[1]} left out)\n")
    data = [(load(out, "fig1_" + a), label, c, mk) for a, label, c, mk in have]
    cfg = data[0][0]["config"]
    for d, label, _, _ in data:
        # the comparison is only fair on the same grid, trials and images
        if [pt["p"] for pt in d["points"]] != [pt["p"] for pt in data[0][0]["points"]] or \
                d["config"]["trials"] != cfg["trials"] or d["config"]["limit"] != cfg["limit"]:
            raise SystemExit(f"fig1: {label} was swept on another grid, trials or limit")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    for d, label, c, mk in data:
        pts = d["points"]
        lab = f"{label} ({d['parameters']:,} params, {d['activations']:,} act.)"
        curve(ax1, [pt["p"] for pt in pts], pts, c, lab, marker=mk)
        ax1.axhline(d["clean_accuracy"], color=c, linestyle="--", linewidth=0.8, alpha=0.6)
        # Fig. 2: the reliable point (p = 0: E_o = parameters + activations)
        # then the faulty points, absolute memory accesses per inference
        e0 = d["parameters"] + d["activations"]
        curve(ax2, [pt["energy"] for pt in pts], pts, c, label, marker=mk, dots=False)
        ax2.plot([e0], [d["clean_accuracy"]], mk, color=c, markerfacecolor="none", markersize=9)
    style(ax1, "p (bit-flip probability, log)", "top-1 accuracy")
    ax1.set_ylim(0, 1)
    ax1.set_title("Fig. 1: BM on weights and activations")
    ax1.legend(loc="lower left", fontsize=8)
    style(ax2, "energy per inference (memory accesses, log)", "top-1 accuracy")
    ax2.set_ylim(0, 1)
    ax2.set_title("Fig. 2: accuracy vs energy (hollow: reliable, p = 0)")
    fig.suptitle(f"Fashion-MNIST, {cfg['limit']} test images, {cfg['trials']} trials per point, "
                 f"seed {cfg['seed']}, energy model $p = e^{{-{cfg['energy_a']:g}\,\eta}}$; "
                 "bands: 95 % CI (clipped to [0, 1]); dots: trials; dashed: clean", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fig1_architectures.png"), dpi=110)
    # the same figure serves both: Fig. 2 is its right panel, also saved alone
    ext = ax2.get_tightbbox(fig.canvas.get_renderer()).transformed(
        fig.dpi_scale_trans.inverted()).expanded(1.02, 1.02)
    fig.savefig(os.path.join(out, "fig2_arch_energy.png"), dpi=110, bbox_inches=ext)
    plt.close(fig)

    print("### Figs. 1 and 2: four architectures under BM (weights + activations)\n")
    table(["network", "parameters", "activations", "E_o", "clean accuracy", "p at -1 point",
           "p at -10 points"],
          [[label, f"{d['parameters']:,}", f"{d['activations']:,}",
            f"{d['parameters'] + d['activations']:,}", f"{d['clean_accuracy']:.4f}",
            fmt_p(drop_p(d["points"], d["clean_accuracy"])) if drop_p(
                d["points"], d["clean_accuracy"]) else "never",
            fmt_p(drop_p(d["points"], d["clean_accuracy"], 0.10)) if drop_p(
                d["points"], d["clean_accuracy"], 0.10) else "never"]
           for d, label, _, _ in data])
    head = ["p", "eta"] + [label for _, label, _, _ in data]
    rows = []
    for i, pt0 in enumerate(data[0][0]["points"]):
        rows.append([fmt_p(pt0["p"]), f"{pt0['eta']:.3f}"] +
                    [f"{acc(d['points'][i])} ({d['points'][i]['energy']:,.0f})"
                     for d, _, _, _ in data])
    print("accuracy ± CI95 (energy per inference) per p:\n")
    table(head, rows)
    summary["fig1"] = {
        a: {"parameters": d["parameters"], "activations": d["activations"],
            "clean": d["clean_accuracy"],
            "p_drop1": drop_p(d["points"], d["clean_accuracy"]),
            "p_drop10": drop_p(d["points"], d["clean_accuracy"], 0.10),
            "points": [[pt["p"], pt["accuracy_mean"], pt["ci95"], pt["energy"]]
                       for pt in d["points"]]}
        for (d, _, _, _), (a, _, _, _) in zip(data, have)}


def fig3(out, summary):
    bm = load(out, "fig3_bm_weights")
    er = load(out, "fig3_erasure_weights")
    cal = load(out, "fig3_calibrate")
    clean = bm["clean_accuracy"]
    cfg = bm["config"]

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    ax.axhline(clean, color="gray", linestyle="--", linewidth=1, label=f"clean ({clean:.4f})")
    curve(ax, [pt["p"] for pt in bm["points"]], bm["points"], "tab:blue", "BM, weights only, at p")
    curve(ax, [pt["p"] / 2 for pt in er["points"]], er["points"], "tab:red",
          "erasure, weights only, at $p_e = 2p$", marker="s")
    style(ax, "bit-cell fault probability p (log)", "top-1 accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Fig. 3: BM at p vs erasure at $p_e$ = 2p (F = 8)")
    ax.legend(loc="lower left", fontsize=9)

    grid = cal["grid"]
    ax2.plot([g["ratio"] for g in grid], [g["sse"] for g in grid], "o-", color="tab:purple")
    ax2.axvline(cal["ratio"], color="tab:purple", linestyle=":",
                label=f"fitted ratio {cal['ratio']:.2f}")
    ax2.axvline(2.0, color="gray", linestyle="--", linewidth=1, label="paper: 2")
    ax2.set_yscale("log")
    style(ax2, "ratio r = $p_e / p$", "sum of squared accuracy differences", logx=False)
    ps = ", ".join(fmt_p(pt["p"]) for pt in cal["points"])
    ax2.set_title(f"calibrate-erasure at p = {ps}")
    ax2.legend(fontsize=9)
    fig.suptitle(f"Fashion-MNIST PreActResNet18 F = 8, {cfg['limit']} test images, "
                 f"{cfg['trials']} trials per point; bands: 95 % CI, dots: trials", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fig3_bm_vs_erasure.png"), dpi=110)
    plt.close(fig)

    print("### Fig. 3: weights-only BM at p vs weights-only erasure at p_e = 2p\n")
    print(f"clean accuracy {clean:.4f} ({cfg['limit']} images), {cfg['trials']} trials per point\n")
    rows = []
    for b, e in zip(bm["points"], er["points"]):
        rows.append([fmt_p(b["p"]), acc(b), fmt_p(e["p"]), acc(e),
                     f"{e['accuracy_mean'] - b['accuracy_mean']:+.4f}"])
    table(["p", "BM acc ± CI95", "p_e", "erasure acc ± CI95", "erasure - BM"], rows)
    print(f"calibrate-erasure at p = {ps}: fitted ratio **{cal['ratio']:.3f}** "
          f"(best grid ratio {cal['best_grid_ratio']:g})\n")
    ratios = [k for k in cal["points"][0]["erasure_accuracy"]]
    rows = []
    for pt in cal["points"]:
        rows.append([fmt_p(pt["p"]), f"{pt['bm_accuracy']:.4f}"] +
                    [f"{pt['erasure_accuracy'][r]:.4f}" for r in ratios])
    rows.append(["SSE", ""] + [f"{g['sse']:.2e}" for g in grid])
    table(["p", "BM"] + [f"r={r}" for r in ratios], rows)
    summary["fig3"] = {
        "clean": clean,
        "ratio": cal["ratio"],
        "best_grid_ratio": cal["best_grid_ratio"],
        "max_ci_half_width": max(half(pt) for pt in bm["points"] + er["points"]),
    }


def fig4(out, summary):
    data = {b: load(out, "fig4_block_" + b) for b in BLOCKS}
    uni = load(out, "fig5_standard")  # uniform p on every part
    pol = load(out, "fig4_policy")
    clean = data["conv1"]["clean_accuracy"]
    cfg = data["conv1"]["config"]
    colors = list(plt.cm.viridis([i / (len(BLOCKS) - 1) for i in range(len(BLOCKS))]))
    colors[-1] = (0.85, 0.2, 0.2, 1.0)

    fig = plt.figure(figsize=(14, 9.5))
    gs = fig.add_gridspec(2, 6, height_ratios=[3, 2])
    ax = fig.add_subplot(gs[0, :4])
    ax2 = fig.add_subplot(gs[0, 4:])
    small = [fig.add_subplot(gs[1, i]) for i in range(len(BLOCKS))]

    ax.axhline(clean, color="gray", linestyle="--", linewidth=1, label=f"clean ({clean:.4f})")
    ax.axhline(clean - DROP, color="gray", linestyle=":", linewidth=1, label="clean - 1 point")
    thresholds, med_thresholds = {}, {}
    for b, c, sax in zip(BLOCKS, colors, small):
        pts = data[b]["points"]
        ps = [pt["p"] for pt in pts]
        ax.plot(ps, [pt["accuracy_mean"] for pt in pts], "o-", color=c, label=b, markersize=4)
        thresholds[b] = drop_p(pts, clean)
        med = [dict(pt, accuracy_mean=statistics.median(pt["trial_accuracies"])) for pt in pts]
        med_thresholds[b] = drop_p(med, clean)
        if thresholds[b]:
            ax.plot([thresholds[b]], [clean - DROP], "v", color=c, markersize=9,
                    markeredgecolor="k")
        sax.axhline(clean, color="gray", linestyle="--", linewidth=1)
        curve(sax, ps, pts, c, b)
        style(sax, "p (log)", "accuracy" if sax is small[0] else "")
        sax.set_ylim(0, 1)
        sax.set_title(b, fontsize=10)
        sax.tick_params(labelsize=8)
        if sax is not small[0]:
            sax.set_yticklabels([])
    style(ax, "bit-cell fault probability p in that block only (log)", "top-1 accuracy (mean)")
    ax.set_ylim(0, 1)
    ax.set_title("Fig. 4: BM on weights + activations of one block at a time (F = 8)")
    ax.legend(loc="lower left", fontsize=9)

    e0u = uni["parameters"] + uni["activations"]
    curve(ax2, [pt["energy"] / e0u for pt in uni["points"]], uni["points"], "tab:blue",
          f"uniform p ({uni['config']['trials']} trials)", dots=False)
    curve(ax2, [pt["energy"] / e0u for pt in pol["points"]], pol["points"], "tab:orange",
          f"layer1=p, layer2=layer3=2p, layer4=10p,\nrest p ({pol['config']['trials']} trials)",
          marker="s", dots=False)
    ax2.axhline(clean, color="gray", linestyle="--", linewidth=1)
    style(ax2, "energy per inference / $E_o$", "top-1 accuracy", logx=False)
    ax2.set_ylim(0, 1)
    ax2.set_title("paper's per-block policy vs uniform p")
    ax2.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Fashion-MNIST PreActResNet18 F = 8, {cfg['limit']} test images, "
                 f"{cfg['trials']} trials per block point; bands: 95 % CI (clipped to [0, 1]), "
                 "dots: trials; triangles: p where the mean first drops 1 point", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fig4_per_block.png"), dpi=100)
    plt.close(fig)

    print("### Fig. 4: BM (weights + activations) in one block only\n")
    print(f"clean accuracy {clean:.4f}; {cfg['trials']} trials per point\n")
    info_blocks = {}
    ps = [pt["p"] for pt in data["conv1"]["points"]]
    rows = []
    for b in BLOCKS:
        d = data[b]
        # values stored in the block, from the energy: E_o - E = (1 - eta) * stored
        e_full = d["parameters"] + d["activations"]
        stored = round((e_full - d["points"][0]["energy"]) / (1 - d["points"][0]["eta"]))
        info_blocks[b] = stored
        t, tm = thresholds[b], med_thresholds[b]
        rows.append([b, stored, fmt_p(t) if t else f"> {fmt_p(ps[-1])}",
                     fmt_p(tm) if tm else f"> {fmt_p(ps[-1])}"] +
                    [f"{pt['accuracy_mean']:.3f}" for pt in d["points"]])
    table(["block", "stored values", "p at -1 pt (mean)", "p at -1 pt (median)"] +
          [f"{fmt_p(p)}" for p in ps], rows)

    print("Policy vs uniform at equal energy (uniform interpolated linearly in energy):\n")
    ue = [pt["energy"] / e0u for pt in uni["points"]][::-1]
    ua = [pt["accuracy_mean"] for pt in uni["points"]][::-1]
    rows = []
    for pt in pol["points"]:
        e = pt["energy"] / e0u
        u = interp(e, ue, ua)
        rows.append([fmt_p(pt["p"]), f"{e:.3f}", acc(pt),
                     f"{u:.4f}" if u is not None else "-",
                     f"{pt['accuracy_mean'] - u:+.4f}" if u is not None else "-"])
    table(["p (layer1)", "E/E_o", "policy acc ± CI95", "uniform acc at same E", "policy - uniform"],
          rows)
    summary["fig4"] = {
        "clean": clean,
        "p_at_1_point_drop_mean": thresholds,
        "p_at_1_point_drop_median": med_thresholds,
        "stored_values": info_blocks,
        "max_ci_half_width": max(half(pt) for b in BLOCKS for pt in data[b]["points"]),
    }


def fig5(out, summary):
    std = load(out, "fig5_standard")
    era = load(out, "fig5_erasure")
    refs = std["references"]
    cfg = std["config"]

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for k, ax in enumerate(axes):
        re = [r["energy"] for r in refs]
        ra = [r["accuracy"] for r in refs]
        ax.axhspan(min(ra), max(ra), color="gray", alpha=0.12, linewidth=0,
                   label="accuracies where the reduction is defined")
        ax.plot(re, ra, "k-o", markersize=6, label="reliable F = 4, 6, 8 (frontier)", zorder=5)
        for r in refs:
            name = os.path.basename(r["model"]).replace("fmnist_preact_", "").replace(".onnx", "")
            ax.annotate(name.upper(), (r["energy"], r["accuracy"]), textcoords="offset points",
                        xytext=(4, 6), fontsize=8)
        curve(ax, [pt["energy"] for pt in std["points"]], std["points"], "tab:blue",
              "F = 8 standard, BM weights + activations", dots=(k == 1))
        curve(ax, [pt["energy"] for pt in era["points"]], era["points"], "tab:red",
              "F = 8 erasure-trained ($p_e$ = 0.02), BM", marker="s", dots=(k == 1))
        e0 = era["parameters"] + era["activations"]
        ax.plot([e0], [era["clean_accuracy"]], "s", color="tab:red", markerfacecolor="none",
                markersize=8, label="F = 8 erasure-trained, reliable")
        style(ax, "energy per inference (memory accesses, log)", "top-1 accuracy")
        if k == 1:
            for d, c, dy in ((std, "tab:blue", 6), (era, "tab:red", -12)):
                for pt in d["points"]:
                    # label a few p only, so that the labels stay readable
                    if pt["accuracy_mean"] > 0.85 and any(
                            abs(pt["p"] / q - 1) < 1e-6 for q in (3e-4, 1e-3, 3e-3, 1e-2)):
                        ax.annotate(f"p={fmt_p(pt['p'])}", (pt["energy"], pt["accuracy_mean"]),
                                    textcoords="offset points", xytext=(3, dy), fontsize=7,
                                    color=c)
            ax.set_ylim(0.85, 0.945)
            ax.set_title("zoom on the frontier (dots: trials)")
        else:
            ax.set_ylim(0, 1)
            ax.set_title("Fig. 5: accuracy vs memory energy")
            ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Fashion-MNIST PreActResNet18, {cfg['limit']} test images, {cfg['trials']} "
                 "trials per point, energy model $p = e^{-12.8\\,\\eta}$; "
                 "bands: 95 % CI (clipped to [0, 1])", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fig5_energy.png"), dpi=110)
    plt.close(fig)

    print("### Fig. 5: accuracy vs energy per inference\n")
    table(["reference", "E_o", "clean accuracy"],
          [[os.path.basename(r["model"]), int(r["energy"]), f"{r['accuracy']:.4f}"] for r in refs])
    s = {}
    for name, d in (("standard", std), ("erasure", era)):
        print(f"F = 8 {name}: clean accuracy {d['clean_accuracy']:.4f}, "
              f"E_o = {d['parameters'] + d['activations']}\n")
        rows = []
        for pt in d["points"]:
            r = pt["energy_reduction"]
            mine = reduction(refs, pt["accuracy_mean"], pt["energy"])
            if (r is None) != (mine is None) or (r is not None and abs(r - mine) > 1e-9 * r):
                print(f"WARNING: brownout's energy_reduction {r} at p = {pt['p']} differs from "
                      f"this script's frontier ({mine})", file=sys.stderr)
            amax = max(x["accuracy"] for x in refs)
            ends = []
            for a in (max(pt["ci95"][0], 0.0), min(pt["ci95"][1], 1.0)):
                x = reduction(refs, a, pt["energy"])
                ends.append(fmt_r(x) if x is not None else ("above" if a > amax else "below"))
            rows.append([fmt_p(pt["p"]), f"{pt['eta']:.3f}", f"{pt['energy']:.0f}", acc(pt),
                         f"{r:.2f}x" if r is not None else "undefined"] + ends)
        table(["p", "eta", "energy", "accuracy ± CI95", "iso-accuracy reduction",
               "at CI low", "at CI high"], rows)
        best = max((pt for pt in d["points"] if pt["energy_reduction"] is not None),
                   key=lambda pt: pt["energy_reduction"], default=None)
        s[name] = {
            "clean": d["clean_accuracy"],
            "best_reduction": best["energy_reduction"] if best else None,
            "best_p": best["p"] if best else None,
            "best_accuracy": best["accuracy_mean"] if best else None,
            "best_ci95": best["ci95"] if best else None,
        }
        if best:
            print(f"best iso-accuracy energy reduction ({name}): **{best['energy_reduction']:.2f}x** "
                  f"at p = {fmt_p(best['p'])} (accuracy {acc(best)})\n")
        else:
            print(f"best iso-accuracy energy reduction ({name}): undefined at every p\n")
    s["references"] = refs
    s["max_ci_half_width"] = max(half(pt) for pt in std["points"] + era["points"])
    summary["fig5"] = s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "docs/experiments"
    summary = {}
    for fig, files in ((fig12, ["fig1_" + a[0] for a in ARCHS]),
                       (fig3, ["fig3_bm_weights"]), (fig4, ["fig5_standard"]),
                       (fig5, ["fig5_standard"])):
        if not any(os.path.exists(os.path.join(out, "data", f + ".json")) for f in files):
            print(f"({fig.__name__}: no data in {out}/data, skipped)\n")
            continue
        fig(out, summary)
    with open(os.path.join(out, "data", "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
