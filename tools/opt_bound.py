#!/usr/bin/python3
"""A measured lower bound on the energy of any per-block allocation that
meets an accuracy floor (docs/optimizer.md, "A lower bound").

    python3 tools/opt_bound.py MODEL.onnx DATASET --floor A [--target-ratio R]
        [--limit 1000] [--trials 8] [--max-trials 16] [--seed 1]
        [--cache FILE.json] [--max-evals N]

Design. Assumption (monotonicity): adding faults never raises the mean
accuracy: if p <= q in every block, acc(p) >= acc(q). Then a measured
allocation c that fails the floor with confidence (the 95 % CI's upper end
below A*) rules out every allocation p >= c: none of them can meet the
floor. The four large blocks (layer1..layer4, 99.2 % of E_o on the F=8
fixture) take p on a log grid (ratio 2^(1/4)); an allocation lies in a
grid cell (p_i in [g_k, g_k+1)), whose least possible energy is at its
upper corner (eta(g_k+1) V_i summed). A cell is ruled out when its lower
corner dominates a failed allocation; E_lb is the least energy of a cell
not ruled out. The small blocks (conv1, bn, the final ReLU, linear) are
kept reliable in every measurement and counted at eta = 0 in the bound
(p -> 1), so the bound holds whatever they take. Failed points are found:
 1. per block alone (others reliable): a bisection on the grid for the
    smallest p that fails (the single-block bound of the issue);
 2. then, while E_lb is below --target-ratio T: the lowest-energy cell
    left, and along the ray that scales its lower corner's p down together
    (x2^(-j/4), same shape), the point whose energy just passes T + margin;
    when it fails, it rules out the cell and everything above it; when not,
    a bisection on the ray for the most reliable point that still fails (a
    smaller cut). When the cell's lower corner itself does not fail,
    the loop stops: the bound cannot be raised past that cell with these
    measurements, and the corner is a candidate allocation (its accuracy is
    reported).
Every measurement is `brownout sweep MODEL DATA --p 1 --block-p
'layer1=..,..,*=0' --trials N --seed S --limit L` (kept in --cache; a rerun
reuses it). A point "fails" when its CI's upper end is below A* at --trials,
or else at --max-trials; an undecided point counts as not failed.
"""
import argparse
import json
import math
import os
import subprocess
import sys

A_ENERGY = 12.8  # BO_ENERGY_A
BIG = ["layer1", "layer2", "layer3", "layer4"]


def eta(p):
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    return min(1.0, -math.log(p) / A_ENERGY)


class Bound:
    def __init__(self, a):
        self.a = a
        self.cache = {}
        if a.cache and os.path.exists(a.cache):
            with open(a.cache) as f:
                self.cache = json.load(f)["points"]
        for extra in getattr(a, "extra_cache", None) or []:  # read only
            with open(extra) as f:
                for key, e in json.load(f)["points"].items():
                    self.cache.setdefault(key, e)
        self.evals = 0
        # grid: 2^(k/4) steps from 2.5e-4 up to ~0.3
        self.grid = [2.5e-4 * 2 ** (k / 4) for k in range(42)]
        self.G = len(self.grid)
        self.info = self.volumes()
        self.failed = []  # grid-index vectors (-1 = reliable)

    def volumes(self):
        out = subprocess.run(["build/brownout", "info", self.a.model], capture_output=True,
                             text=True, check=True).stdout
        vol, on = {}, False
        for line in out.splitlines():
            f = line.split()
            if f and f[0] == "block":
                on = True
                continue
            if on and len(f) == 3:
                vol[f[0]] = int(f[1]) + int(f[2])
        return vol

    def key(self, k):
        return ",".join(str(x) for x in k)

    def p_of(self, k):
        return [0.0 if x < 0 else self.grid[x] for x in k]

    def measure(self, k, trials):
        key = "%s@%d" % (self.key(k), trials)
        if key not in self.cache:
            p = self.p_of(k)
            rules = ",".join("%s=%.17g" % (b, q) for b, q in zip(BIG, p)) + ",*=0"
            cmd = ["build/brownout", "sweep", self.a.model, self.a.data, "--deviation", "bm",
                   "--target", "both", "--p", "1", "--block-p", rules, "--trials",
                   str(trials), "--limit", str(self.a.limit), "--seed", str(self.a.seed),
                   "--threads", "1", "--json"]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            j = json.loads(r.stdout)
            pt = j["points"][0]
            self.cache[key] = {"k": list(k), "p": p, "trials": trials,
                               "mean": pt["accuracy_mean"], "ci": pt["ci95"],
                               "acc": pt["trial_accuracies"], "clean": j["clean_accuracy"]}
            self.evals += trials
            self.save()
            print("  measured %s p=%s: %.4f [%.4f, %.4f] (%d trials, E/E_o %.4f)" %
                  (self.key(k), ["%.3g" % q for q in p], pt["accuracy_mean"], pt["ci95"][0],
                   pt["ci95"][1], trials, self.energy_lo(k)), flush=True)
        return self.cache[key]

    def save(self):
        if self.a.cache:
            tmp = self.a.cache + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"floor": self.a.floor, "grid": self.grid, "points": self.cache}, f,
                          indent=1)
            os.replace(tmp, self.a.cache)

    def fails(self, k):
        """1: fails with confidence; 0: meets the floor (mean); -1 undecided."""
        m = self.measure(k, self.a.trials)
        if m["ci"][1] < self.a.floor:
            return 1
        if m["ci"][0] >= self.a.floor:
            return 0
        m = self.measure(k, self.a.max_trials)
        if m["ci"][1] < self.a.floor:
            return 1
        return 0 if m["mean"] >= self.a.floor else -1

    def energy_o(self):
        return sum(self.info.values())

    def energy_lo(self, k):
        """E/E_o at the lower corner of cell k (small blocks reliable)."""
        e = sum(eta(q) * self.info[b] for b, q in zip(BIG, self.p_of(k)))
        small = sum(v for b, v in self.info.items() if b not in BIG)
        return (e + small) / self.energy_o()

    def bound(self):
        """(E_lb / E_o, its cell): the least infimum energy over cells not ruled out.
        For each (k1, k2, k3), the cheapest k4 left is one below the least c4
        of the failed points c with c1 <= k1, c2 <= k2, c3 <= k3."""
        G = self.G
        up = [self.grid[0]] + [self.grid[i + 1] if i + 1 < G else 1.0 for i in range(G)]
        eup = [eta(q) for q in up]  # infimum eta of cell k at eup[k + 1]
        V = [self.info[b] for b in BIG]
        best, cell = math.inf, None
        rng = range(-1, G)
        for k1 in rng:
            f1 = [c for c in self.failed if c[0] <= k1]
            e1 = eup[k1 + 1] * V[0]
            for k2 in rng:
                f2 = [c for c in f1 if c[1] <= k2]
                e2 = e1 + eup[k2 + 1] * V[1]
                if e2 >= best:
                    continue
                for k3 in rng:
                    m = G
                    for c in f2:
                        if c[2] <= k3 and c[3] < m:
                            m = c[3]
                    k4 = m - 1
                    if k4 < -1:
                        continue  # every k4 is ruled out
                    e = e2 + eup[k3 + 1] * V[2] + eup[k4 + 1] * V[3]
                    if e < best:
                        best, cell = e, [k1, k2, k3, k4]
        return best / self.energy_o(), cell

    def single(self, i):
        """Bisection for block i alone: the smallest grid index that fails."""
        lo, hi = -1, self.G  # lo: known not failing; hi: known failing (G: none)
        # start from a probe in the middle of the plausible range
        probe = [self.G // 2]
        while hi - lo > 1:
            mid = probe.pop() if probe else (lo + hi) // 2
            k = [-1] * 4
            k[i] = mid
            if self.fails(k) == 1:
                hi = mid
            else:
                lo = mid
        return hi

    def ray_cut(self, k, target):
        """A failed point on the ray of k scaled down (j grid steps): first the
        point whose lower-corner energy just passes target + margin (one
        measurement when it fails: it rules out this cell and what lies
        above it); when that one does not fail, a bisection on [0, j) for
        the most reliable failing point. None when k itself does not fail."""
        def at(j):
            return [max(x - j, -1) if x >= 0 else -1 for x in k]
        js = 0
        while self.energy_lo(at(js)) < target + self.a.margin and any(x >= 0 for x in at(js)):
            js += 1
        if js > 0 and self.fails(at(js)) == 1:
            return at(js)
        if self.fails(k) != 1:
            return None
        lo, hi = 0, js  # lo fails, hi does not (or is the target point)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.fails(at(mid)) == 1:
                lo = mid
            else:
                hi = mid
        return at(lo)


def decided(cache, floor):
    """Per measured allocation (grid indices), its largest-trials entry and
    whether it failed (CI upper end below the floor)."""
    by = {}
    for e in cache.values():
        key = tuple(e["k"])
        if key not in by or e["trials"] > by[key]["trials"]:
            by[key] = e
    return {k: (e, e["ci"][1] < floor) for k, e in by.items()}


def monotonicity(cache, floor):
    """Every measured pair a <= b (componentwise, a != b): monotonicity says
    mean(a) >= mean(b). Returns (pairs, violations beyond noise, worst):
    a violation is mean(b) - mean(a) above the two CI half-widths combined
    in quadrature."""
    pts = list(decided(cache, floor).items())
    n = bad = 0
    worst = None
    for ka, (ea, _) in pts:
        for kb, (eb, _) in pts:
            if ka == kb or not all(x <= y for x, y in zip(ka, kb)):
                continue
            n += 1
            ha = (ea["ci"][1] - ea["ci"][0]) / 2
            hb = (eb["ci"][1] - eb["ci"][0]) / 2
            d = eb["mean"] - ea["mean"]
            if d > math.hypot(ha, hb):
                bad += 1
            if worst is None or d > worst[0]:
                worst = (d, ea["p"], ea["mean"], eb["p"], eb["mean"])
    return n, bad, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--floor", type=float, required=True)
    ap.add_argument("--target-ratio", type=float, default=0.0)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--max-trials", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache")
    ap.add_argument("--max-evals", type=int, default=1500)
    ap.add_argument("--max-rounds", type=int, default=60)
    ap.add_argument("--margin", type=float, default=0.01)
    ap.add_argument("--extra-cache", action="append",
                    help="more measurements to use (read only; repeatable)")
    ap.add_argument("--report", action="store_true",
                    help="no measurement: the bound from every failed point in --cache, and"
                    " the monotonicity check on its pairs")
    a = ap.parse_args()
    b = Bound(a)
    if a.report:
        d = decided(b.cache, a.floor)
        strict = {}
        for delta in (0.005, 0.01, 0.02):  # sturdier: a failure by a margin
            b.failed = [list(k) for k, (e, _) in d.items() if e["ci"][1] < a.floor - delta]
            strict["%g" % delta] = b.bound()[0]
        b.failed = [list(k) for k, (_, f) in d.items() if f]
        lb, cell = b.bound()
        n, bad, worst = monotonicity(b.cache, a.floor)
        print(json.dumps({"measured": len(d), "failed": len(b.failed),
                          "trials": sum(e["trials"] for e, _ in d.values()),
                          "bound": lb, "cell": cell, "cell_p": b.p_of(cell),
                          "bound_if_failing_by": strict,
                          "monotonicity_pairs": n, "violations": bad, "worst": worst},
                         indent=1))
        return
    E = b.energy_o()
    print("E_o %d; blocks %s" % (E, b.info))
    fail1 = []
    for i in range(4):
        f = b.single(i)
        fail1.append(f)
        if f < b.G:
            k = [-1] * 4
            k[i] = f
            b.failed.append(k)
        print("%s alone: p_fail %s" % (BIG[i], "%.4g" % b.grid[f] if f < b.G else "none"),
              flush=True)
    lb, cell = b.bound()
    print("single-block bound: E_lb/E_o %.4f at cell %s" % (lb, cell), flush=True)
    single_lb = lb
    # every failed allocation measured before (a rerun on the same --cache)
    b.failed += [list(k) for k, (_, f) in decided(b.cache, a.floor).items()
                 if f and list(k) not in b.failed]
    stop = "target reached"
    for rnd in range(a.max_rounds):
        lb, cell = b.bound()
        print("round %d: E_lb/E_o %.4f, cell %s (lower corner E/E_o %.4f), %d trials" %
              (rnd, lb, cell, b.energy_lo(cell), b.evals), flush=True)
        if a.target_ratio and lb >= a.target_ratio:
            break
        if b.evals >= a.max_evals:
            stop = "evaluation budget"
            break
        cut = b.ray_cut(cell, a.target_ratio)
        if cut is None:
            stop = "the lowest cell's lower corner does not fail"
            break
        b.failed.append(cut)
    else:
        stop = "rounds"
    lb, cell = b.bound()
    res = {"floor": a.floor, "single_block_bound": single_lb, "bound": lb, "cell": cell,
           "cell_lower_corner_energy": b.energy_lo(cell), "stop": stop,
           "p_fail": {BIG[i]: (b.grid[f] if f < b.G else None) for i, f in enumerate(fail1)},
           "failed": [b.p_of(c) for c in b.failed], "evals": b.evals}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
