#!/usr/bin/python3
"""Train a PreActResNet18 on Fashion-MNIST with and without the erasure
regularizer, sweep both under bit masking on brownoutd, and print each
one's iso-accuracy energy reduction: the paper's Fig. 5 claim, measured.

    BROWNOUT_URL=http://127.0.0.1:8080 BROWNOUT_TOKEN=bo_... \\
    /usr/bin/python3 clients/python/examples/train_robust.py \\
        [--width 8] [--epochs 4] [--train-limit 0] [--test-limit 2000] \\
        [--trials 10] [--p 3e-4,1e-3,2e-3,5e-3,1e-2] [--pe P | --train-p 0.01] \\
        [--references w4,w6,plain] [--quick] [--json FILE]

Steps:
 1. train the plain model (PreActResNet18 of tools/models.py at width F,
    in_channels 1; Adam with a one-cycle learning rate, random horizontal
    flips: the recipe of tools/train_fmnist.py, which made the fixtures) on
    Debian's Fashion-MNIST, export it with brownout.torch.export and upload
    it;
 2. p_e: --pe, or calibrated_pe's ratio (weights-only BM against
    weights-only erasure over the sweep's p, run by brownoutd) times
    --train-p, the BM rate the training should stand for;
 3. train the same network from the same seed under ErasureRegularizer(p_e)
    (weights and activations erased in training, spec section 9), export
    (with brownout.erasure_pe) and upload it;
 4. one BM sweep on weights and activations per model, same p, trials,
    seed and images, with the reliable references in the job's
    `references` (default w4,w6,plain: plain models of widths 4 and 6
    trained here with the same recipe, and the plain model itself; f4, f6
    and f8 name the fixtures, other entries are ONNX paths or model ids),
    so brownoutd computes each point's iso-accuracy energy reduction
    E_ref(mean accuracy) / energy (docs/sweeps.md);
 5. print one table: per model and p the accuracy with its 95 % CI,
    brownoutd's energy reduction, and the same frontier evaluated at the
    CI's ends ("below"/"above": outside the references' accuracy range),
    then each model's best reduction.

--quick is a smoke test (F = 2, 1 epoch on 1000 images in batches of 20, 200 test images,
p = 0 and 1e-3, 2 trials, the plain model and the F = 4 fixture as
references, a two-point, one-trial calibration): tests/python runs it.
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "clients", "python"))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.dont_write_bytecode = True  # keep tools/ free of __pycache__

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import brownout  # noqa: E402
from brownout.torch import ErasureRegularizer  # noqa: E402
import fmnist_common as fc  # noqa: E402  (Debian's IDX files, normalisation)
from models import PreActResNet18, count_params  # noqa: E402

FIXTURE_REFS = {"f4": "tests/fixtures/fmnist_preact_f4.onnx",
                "f6": "tests/fixtures/fmnist_preact_f6.onnx",
                "f8": "tests/fixtures/fmnist_preact_f8.onnx"}
QUICK = dict(width=2, epochs=1, train_limit=1000, batch_size=20, test_limit=200, trials=2,
             p="0,1e-3", references="plain,f4", calib_p="1e-3,1e-2", calib_trials=1)
COLUMNS = ("model", "p", "eta", "energy", "accuracy", "ci95_lo", "ci95_hi", "trials",
           "reduction", "red_at_ci_lo", "red_at_ci_hi")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="brownoutd (default $BROWNOUT_URL)")
    ap.add_argument("--token", help="API token (default $BROWNOUT_TOKEN)")
    ap.add_argument("--width", type=int, default=8, help="F, the first stage's width (8)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train-limit", type=int, default=0,
                    help="train on a seeded subset of this many of the 60,000 images (0: all)")
    ap.add_argument("--test-limit", type=int, default=2000,
                    help="the first N test images, for the sweeps and accuracies (0: all)")
    ap.add_argument("--trials", type=int, default=10, help="chips per point (10)")
    ap.add_argument("--p", default="3e-4,1e-3,2e-3,5e-3,1e-2",
                    help="BM rates of the sweeps, comma-separated")
    ap.add_argument("--pe", type=float, help="the erasure rate of training (default: "
                    "calibrated by brownoutd, times --train-p)")
    ap.add_argument("--train-p", type=float, default=0.01,
                    help="the BM rate p_e stands for when calibrated (0.01)")
    ap.add_argument("--calib-p", help="p of the calibration (default: --p without 0)")
    ap.add_argument("--calib-trials", type=int, help="trials of the calibration (--trials)")
    ap.add_argument("--references", default="w4,w6,plain",
                    help="reliable references: wN (a plain model of width N trained here "
                    "with the same recipe), plain (the plain model), f4/f6/f8 (the "
                    "fixtures, trained on all 60,000 images for 4 epochs), ONNX paths or "
                    "model ids (w4,w6,plain)")
    ap.add_argument("--dataset", type=int, help="a registered Fashion-MNIST test set's id "
                    "(default: register " + fc.DATA_DIR + ")")
    ap.add_argument("--seed", type=int, default=1, help="training and sweep seed (1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--name", default="robust", help="prefix of model and job names")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test: " + ", ".join("%s %s" % kv for kv in QUICK.items()))
    args = ap.parse_args(argv)
    if args.quick:
        given = {a.lstrip("-").split("=")[0].replace("-", "_") for a in argv if a.startswith("--")}
        for k, v in QUICK.items():
            if k not in given:
                setattr(args, k, v)
    args.p_list = [float(x) for x in args.p.split(",") if x.strip()]
    if not args.p_list:
        ap.error("--p is empty")
    calib = args.calib_p if args.calib_p else ",".join(repr(p) for p in args.p_list if p > 0)
    args.calib_p_list = [float(x) for x in calib.split(",") if x.strip()]
    if args.pe is None and not args.calib_p_list:
        ap.error("calibration needs a p above 0: give --calib-p or --pe")
    if args.pe is not None and not 0 <= args.pe < 1:
        ap.error("--pe must be in [0, 1)")
    if args.calib_trials is None:
        args.calib_trials = args.trials
    return args


# torch.onnx's advice about constant folding in PRESERVE mode: brownout.torch.export
# keeps BatchNormalization nodes on purpose (docs/python.md)
warnings.filterwarnings("ignore", message="It is recommended that constant folding")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def train(width, args, xtr, ytr, p_e=None):
    """tools/train_fmnist.py's recipe; with p_e, under ErasureRegularizer."""
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = PreActResNet18(F=width, in_channels=1, num_classes=10)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = len(xtr)
    steps = (n + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps, pct_start=0.15)
    reg = ErasureRegularizer(model, p_e) if p_e else None
    t0 = time.time()
    try:
        if reg:
            reg.__enter__()
        for epoch in range(args.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen)
            for step in range(steps):
                idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
                xb, yb = xtr[idx], ytr[idx]
                flip = torch.rand(len(idx), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            log("  epoch %d/%d: loss %.4f (%.0f s)" % (epoch + 1, args.epochs, float(loss),
                                                        time.time() - t0))
    finally:
        if reg:
            reg.__exit__(None, None, None)
    model.eval()
    return model, time.time() - t0


def frontier(refs):
    """The references' frontier as lib/energy.c builds it: by accuracy
    descending (energy ascending on ties), keep each point cheaper than
    the last kept, then accuracy ascending."""
    pts = sorted(((r["accuracy"], r["energy"]) for r in refs), key=lambda t: (-t[0], t[1]))
    kept = []
    for a, e in pts:
        if not kept or e < kept[-1][1]:
            kept.append((a, e))
    return kept[::-1]


def e_ref(front, acc):
    """E_ref(acc) (bo_frontier_energy), or "below"/"above" the range."""
    if acc is None or (isinstance(acc, float) and math.isnan(acc)):
        return None
    if acc < front[0][0]:
        return "below"
    if acc > front[-1][0]:
        return "above"
    lo = max(i for i, (a, _) in enumerate(front) if a <= acc)
    if front[lo][0] == acc or lo == len(front) - 1:
        return front[lo][1]
    w = (acc - front[lo][0]) / (front[lo + 1][0] - front[lo][0])
    return front[lo][1] * math.exp(w * math.log(front[lo + 1][1] / front[lo][1]))


def reduction_at(front, acc, energy):
    e = e_ref(front, acc)
    return e / energy if isinstance(e, float) else e


def fmt_red(r):
    if r is None:
        return "-"
    return r if isinstance(r, str) else "%.3fx" % r


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    t_start = time.time()
    torch.set_num_threads(args.threads)
    c = brownout.Client(args.url, args.token)
    me = c.me()
    log("brownoutd %s as %s" % (c.url, me["name"]))

    xtr_np, ytr_np = fc.load_split("train")
    xte_np, yte_np = fc.load_split("test")
    if args.train_limit and args.train_limit < len(xtr_np):
        sel = np.sort(np.random.RandomState(args.seed).permutation(len(xtr_np))[:args.train_limit])
        xtr_np, ytr_np = xtr_np[sel], ytr_np[sel]
    n_test = args.test_limit or len(xte_np)
    xtr, ytr = torch.from_numpy(xtr_np), torch.from_numpy(ytr_np)
    xte, yte = torch.from_numpy(xte_np[:n_test]), torch.from_numpy(yte_np[:n_test])
    example = xte[:1]

    if args.dataset is not None:
        dataset = c.datasets.get(args.dataset)
    else:
        dataset = c.datasets.register(fc.DATA_DIR, name="fashion-mnist")
    limit = args.test_limit or None
    tags = ["train-robust", "f%d" % args.width]
    out = {"command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])
           if argv is None else "train_robust.py " + " ".join(argv),
           "width": args.width, "epochs": args.epochs, "train_images": len(xtr),
           "test_images": n_test, "trials": args.trials, "p": args.p_list, "seed": args.seed,
           "models": {}}

    def upload(kind, model, secs, p_e=None, width=args.width):
        correct, acc = fc.evaluate(model, xte, yte)
        m = c.models.upload(model, name="%s-%s-f%d" % (args.name, kind, width),
                            example=example, mean=fc.MEAN, std=fc.STD, erasure_pe=p_e,
                            description="train_robust.py: F=%d, %d epochs on %d images%s" % (
                                width, args.epochs, len(xtr),
                                ", erasure p_e=%g" % p_e if p_e else ""))
        log("%s: %d parameters, PyTorch accuracy %.4f on %d test images, %.0f s of training; "
            "model %d (v%d)" % (kind, count_params(model), acc, n_test, secs, m["id"],
                                m.get("version", 1)))
        out["models"][kind] = {"model": m["id"], "version": m.get("version"),
                               "train_seconds": round(secs, 1), "torch_accuracy": acc,
                               "p_e": p_e}
        return m

    log("training the plain model (F=%d, %d epochs, %d images)" % (args.width, args.epochs,
                                                                   len(xtr)))
    plain, secs = train(args.width, args, xtr, ytr)
    m_plain = upload("plain", plain, secs)

    if args.pe is not None:
        p_e = args.pe
        log("p_e = %g (--pe)" % p_e)
    else:
        t0 = time.time()
        cal = brownout.calibrated_pe(c, m_plain, dataset, p=args.calib_p_list,
                                     trials=args.calib_trials, limit=limit, seed=args.seed,
                                     tags=tags, name=args.name + " calibrate")
        p_e = cal.pe(args.train_p)
        log("calibration: ratio %.4f (grid %g), p_e = %.4g for p = %g (%.0f s)" % (
            cal.ratio, cal.best_grid_ratio, p_e, args.train_p, time.time() - t0))
        out["calibration"] = {"ratio": cal.ratio, "best_grid_ratio": cal.best_grid_ratio,
                              "sse": {repr(r): s for r, s in cal.sse.items()},
                              "p": args.calib_p_list, "trials": args.calib_trials,
                              "jobs": [j.id for j in cal.jobs], "train_p": args.train_p}
    out["p_e"] = p_e

    log("training with the erasure regularizer (p_e = %.4g)" % p_e)
    robust, secs = train(args.width, args, xtr, ytr, p_e=p_e)
    m_erasure = upload("erasure", robust, secs, p_e=p_e)

    refs = []
    for r in args.references.split(","):
        r = r.strip()
        if r == "plain":
            refs.append(m_plain["id"])
        elif r[:1] == "w" and r[1:].isdigit():
            log("training the reference of width %s (plain, the same recipe)" % r[1:])
            ref, rsecs = train(int(r[1:]), args, xtr, ytr)
            refs.append(upload("ref-" + r, ref, rsecs, width=int(r[1:]))["id"])
        elif r in FIXTURE_REFS or r.endswith(".onnx"):
            path = os.path.join(REPO, FIXTURE_REFS.get(r, r))
            refs.append(c.models.upload(path, name=os.path.basename(path)[:-5])["id"])
        elif r:
            refs.append(int(r))
    jobs = {}
    for kind, m in (("plain", m_plain), ("erasure", m_erasure)):
        jobs[kind] = c.jobs.submit(m, dataset, args.p_list, deviation="bm", target="both",
                                   trials=args.trials, limit=limit, seed=args.seed,
                                   references=refs, name="%s %s F=%d" % (args.name, kind,
                                                                        args.width),
                                   tags=tags)
    rows = []
    for kind, job in jobs.items():
        job.wait(progress=sys.stderr.isatty())
        res = job.results()
        front = frontier(res["references"]) if res.get("references") else None
        info = out["models"][kind]
        info.update(job=job.id, clean_accuracy=res["clean_accuracy"],
                    parameters=res["parameters"], activations=res["activations"], points=[])
        best = None
        for pt in res["points"]:
            lo, hi = pt["ci95"] if pt.get("ci95") else (None, None)
            red = pt.get("energy_reduction")
            at_lo = reduction_at(front, lo, pt["energy"]) if front else None
            at_hi = reduction_at(front, hi, pt["energy"]) if front else None
            if red is not None and (best is None or red > best[1]):
                best = (pt["p"], red)
            row = dict(model=kind, p=pt["p"], eta=pt["eta"], energy=pt["energy"],
                       accuracy=pt["accuracy_mean"], ci95_lo=lo, ci95_hi=hi,
                       trials=pt["trials"], reduction=red, red_at_ci_lo=at_lo,
                       red_at_ci_hi=at_hi)
            rows.append(row)
            info["points"].append(row)
        info["best_reduction"] = best
    out["references"] = res.get("references")
    out["seconds"] = round(time.time() - t_start, 1)

    print("iso-accuracy energy reduction under BM (weights and activations), F=%d, "
          "%d epochs on %d images, %d test images, %d trials, seed %d, p_e %.4g"
          % (args.width, args.epochs, len(xtr), n_test, args.trials, args.seed, p_e))
    for r in out["references"] or []:
        print("reference %-24s E_o %10.0f  accuracy %.4f" % (r.get("name", r.get("model")),
                                                            r["energy"], r["accuracy"]))
    for kind in ("plain", "erasure"):
        i = out["models"][kind]
        print("model %-7s job %-5d clean accuracy %.4f  E_o %d" % (
            kind, i["job"], i["clean_accuracy"], i["parameters"] + i["activations"]))
    print()
    print("%-8s %10s %7s %10s %9s %9s %9s %6s %10s %12s %12s" % COLUMNS)
    for r in rows:
        print("%-8s %10.4g %7.4f %10.1f %9.4f %9.4f %9.4f %6d %10s %12s %12s" % (
            r["model"], r["p"], r["eta"], r["energy"], r["accuracy"],
            r["ci95_lo"] if r["ci95_lo"] is not None else float("nan"),
            r["ci95_hi"] if r["ci95_hi"] is not None else float("nan"), r["trials"],
            fmt_red(r["reduction"]), fmt_red(r["red_at_ci_lo"]), fmt_red(r["red_at_ci_hi"])))
    print()
    for kind in ("plain", "erasure"):
        best = out["models"][kind]["best_reduction"]
        if best is None:
            print("best %-7s none (no point within the references' accuracy range)" % kind)
        else:
            print("best %-7s %.3fx at p = %g%s" % (kind, best[1], best[0],
                                                   "" if best[1] >= 1 else
                                                   " (an increase: %.3fx more)" % (1 / best[1])))
    print("seconds %.0f" % out["seconds"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return out


if __name__ == "__main__":
    main()
