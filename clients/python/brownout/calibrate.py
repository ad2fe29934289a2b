"""calibrated_pe: the erasure rate that stands for bit masking (Fig. 3 of
the paper), computed by brownoutd's jobs.

Design. brownoutd has no calibration endpoint; `brownout
calibrate-erasure` (clients/cli/sweep_cmd.c) is the reference. It runs
weights-only BM at each p, then weights-only erasure at p_e = min(1, r p)
for each ratio r of GRID, and takes the ratio minimising the squared
difference of mean accuracies summed over the points, refined by the
vertex of the parabola through the best grid ratio and its neighbours
(kept inside them, and only when the parabola opens upwards). Here the
same trials are asked of brownoutd as two jobs (more if the erasure
points pass the API's 1024 per job): one weights-only BM job over p and
one weights-only erasure job over every distinct r p. A trial's faults
are keyed by the seed and the bits of its point's p value, never by its
position in the list (docs/fault-models.md section 4), so each point of
the one erasure job is the point of the CLI's sweep at that ratio, and
the ratio equals the CLI's to the last bit when the job's settings
(seed, trials, limit, calib, bits, sites, normalisation) are the CLI's.
The p values the erasure job gets are computed from the BM job's `spec`
(the daemon expands "LO:HI:N" as the CLI does), in the CLI's arithmetic
(one IEEE multiplication, then min with 1).
"""
import math

from .client import BrownoutError

__all__ = ["calibrated_pe", "Calibration", "GRID"]

GRID = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # the CLI's ratios, in its order
_MAX_POINTS = 1024                          # p values per job (the API's cap)
_NOT_HERE = ("deviation", "target", "ci_target", "min_trials", "max_trials", "references",
             "p")


class Calibration:
    """The answer of calibrated_pe.

    ratio            p_e / p, refined (the CLI's "ratio")
    best_grid_ratio  the grid ratio with the smallest squared difference
    sse              {r: sum over p of (erasure mean - BM mean)^2} per grid ratio
    points           one dict per p: p, bm_accuracy, bm_std,
                     erasure_accuracy {r: mean accuracy at p_e = min(1, r p)}
    jobs             the brownout.Job objects that produced the numbers
    pe(p)            the erasure rate standing for BM at p: min(1, ratio p)
    """

    def __init__(self, ratio, best_grid_ratio, sse, points, jobs):
        self.ratio = ratio
        self.best_grid_ratio = best_grid_ratio
        self.sse = sse
        self.points = points
        self.jobs = jobs

    def pe(self, p):
        return min(1.0, self.ratio * float(p))

    @property
    def grid(self):
        """[(r, sse)] in the grid's order, as the CLI's --json "grid"."""
        return [(r, self.sse[r]) for r in GRID]

    def __repr__(self):
        return "<Calibration ratio %.4g (grid %g) over %d p>" % (
            self.ratio, self.best_grid_ratio, len(self.points))


def _refine(sse):
    """The CLI's rule: argmin over the grid (first one on ties), then the
    vertex of the parabola through it and its neighbours when it opens
    upwards, clamped to the neighbours."""
    ys = [sse[r] for r in GRID]
    best = 0
    for g in range(1, len(GRID)):
        if ys[g] < ys[best]:
            best = g
    ratio = GRID[best]
    if 0 < best < len(GRID) - 1:
        x0, x1, x2 = GRID[best - 1], GRID[best], GRID[best + 1]
        y0, y1, y2 = ys[best - 1], ys[best], ys[best + 1]
        den = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
        b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den
        if a > 0:
            ratio = min(x2, max(x0, -b / (2 * a)))
    return ratio, GRID[best]


def _means(job):
    """{p: mean accuracy} of a finished job's points."""
    out = {}
    for pt in job.results()["points"]:
        m = pt.get("accuracy_mean")
        if m is None or not math.isfinite(m):
            raise BrownoutError(200, "incomplete", "job %d has no accuracy at p = %r"
                                % (job.id, pt["p"]))
        out[pt["p"]] = (m, pt.get("accuracy_std"))
    return out


def calibrated_pe(client, model, dataset, p, trials=10, limit=None, seed=1, timeout=None,
                  progress=False, name="calibrate-erasure", tags=None, **spec):
    """Fig. 3's calibration of `model` on `dataset`, run by brownoutd: the
    ratio r such that weights-only erasures at p_e = r p give the accuracy
    of weights-only bit masking at p, over the p values given (a list, or
    "LO:HI:N" as the API takes it). trials, limit and seed are the jobs';
    other keyword arguments are further job fields (bits, calib,
    activation_sites, mean, std, priority). The numbers are those of
    `brownout calibrate-erasure MODEL DATASET --p ... --trials ... --limit
    ... --seed ... --json` with the same settings. Waits for the jobs
    (timeout: seconds for each, None for no limit) and returns a
    Calibration (c.ratio, c.pe(p), c.sse, c.points, c.jobs)."""
    for k in _NOT_HERE:
        if k in spec:
            raise ValueError("calibrated_pe sets %s itself (weights-only BM against "
                             "weights-only erasure at fixed trials)" % k)
    if not isinstance(trials, int) or trials < 1:
        raise ValueError("trials must be a positive integer, not %r" % (trials,))
    common = dict(spec, trials=trials, seed=seed, target="weights")
    if limit is not None:
        common["limit"] = limit
    tags = list(tags) if tags is not None else None
    bm = client.jobs.submit(model, dataset, p, deviation="bm", name=name + " bm", tags=tags,
                            **common)
    ps = [float(x) for x in bm.spec["p"]]
    pes = []
    seen = set()
    for r in GRID:
        for x in ps:
            v = min(1.0, r * x)  # fmin(1.0, grid[g] * o.p[i]) in the CLI
            if v not in seen:
                seen.add(v)
                pes.append(v)
    erasure = [client.jobs.submit(model, dataset, pes[i:i + _MAX_POINTS], deviation="erasure",
                                  name=name + " erasure", tags=tags, **common)
               for i in range(0, len(pes), _MAX_POINTS)]
    jobs = [bm] + erasure
    for j in jobs:
        j.wait(timeout=timeout, progress=progress)
        if j.state != "done":
            raise BrownoutError(200, j.state, "calibration job %d was %s" % (j.id, j.state))
    bm_means = _means(bm)
    er_means = {}
    for j in erasure:
        er_means.update(_means(j))
    sse = {}
    points = [{"p": x, "bm_accuracy": bm_means[x][0], "bm_std": bm_means[x][1],
               "erasure_accuracy": {}} for x in ps]
    for r in GRID:
        s = 0.0
        for pt in points:
            e = er_means[min(1.0, r * pt["p"])][0]
            pt["erasure_accuracy"][r] = e
            d = e - pt["bm_accuracy"]
            s += d * d
        sse[r] = s
    ratio, best = _refine(sse)
    return Calibration(ratio, best, sse, points, jobs)
