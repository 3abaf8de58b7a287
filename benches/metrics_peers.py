#!/usr/bin/env python3
"""repalign's follow-up metrics against the follow-up paper's code (mlbio-epfl/Aristotelian),
torch/numpy on CPU, the same thread count for both, timed in one run.

    python benches/metrics_peers.py --peer /path/to/Aristotelian [--threads 2] [--n 1024]
        [--dims 768,4096] [--metrics rsa,procrustes,cca,pwcca,rv_coefficient]
        [--reps 5] [--score-budget 30] [--permutations 1000] [--probe 10]
        [--peer-probe 3] [--max-calib-s 300] [--quick]

--quick (--reps 2 --score-budget 10 --probe 5 --peer-probe 2 --max-calib-s 60) should rerun
the whole comparison in about 10-15 minutes on 2 cores (estimated from the full run's
timings on a loaded machine, where the peer's D = 4096 CCA/PWCCA/Procrustes calls dominate;
not timed itself).

--peer is a checkout of github.com/mlbio-epfl/Aristotelian (never part of this repository).
Its `aristotelian/__init__.py` imports the experiment drivers (loguru, datasets, ...); the
metrics need only torch and numpy, so the package is entered as an empty namespace module
and only `aristotelian.metrics` (the registry) is imported from the checkout.

Data: A = default_rng(0).standard_normal((N, D), float32), B = A + the same generator's next
N x D standard normal draw (float32), as numpy arrays for repalign and the same memory as
torch CPU tensors (torch.from_numpy) for the peer.

Each side of each (metric, D) runs in its own subprocess (this script with --child), repalign
first, then the peer: repalign's process never imports torch, the peer's never imports
repalign, so neither side's threads or memory state can affect the other. In each:
  warm-up      the metric once at N = 128, D = 64 before anything is timed.
  score        repalign.score(a, b, metric, threads=T), or the peer's
               MetricRegistry.compute_raw(metric, X, Y) (default MetricConfig, device cpu):
               up to --reps calls, no new call once that side spent --score-budget seconds
               (at least one: the peer's D = 4096 eigendecompositions take tens of seconds a
               call); the median. The table says how many calls ran on each side.
  calibration  repalign.calibrate(a, b, metric, permutations=P, seed=0, threads=T), or the
               peer's MetricRegistry.compute(metric, X, Y, MetricConfig(calibrate=True,
               num_permutations=P)) (its batched permutation nulls; torch.manual_seed(0)).
               Both include the raw score. Two probes run first, of 1 and of k permutations
               (--probe for repalign, --peer-probe for the peer): their difference is k - 1
               samples, so the fixed cost (raw score, whitening, distance or Gram matrices)
               is counted once, t(P) ≈ t(1) + (t(k) - t(1)) (P - 1) / (k - 1). When that
               exceeds --max-calib-s it is reported instead of a measured run, marked
               "≈ ... (k measured)"; otherwise the full P permutations are run and timed once.

The peer's `rsa` samples 8192 random pairs of the N(N-1)/2 once N(N-1)/2 >= 16384 (its
registry cannot turn that off), repalign's uses every pair: the table's `rsa` row is that
comparison, and a `rsa (peer full RDM)` row scores the peer's own helpers on every pair
(`_spearman_corr_torch(_rsa_vector(X), _rsa_vector(Y))`, score only; the peer has no
full-RDM null at this N).

Threads: OMP/MKL/OPENBLAS_NUM_THREADS = T are set before numpy and torch are imported and
torch.set_num_threads(T); repalign gets threads=T. Prints the CPU, versions, the peer's
commit, the load average before and after, and markdown tables.
"""
import os
import sys

# Thread count for the peers' BLAS/OpenMP pools must be fixed before numpy/torch load.
_T = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _T = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _T = _a.split("=", 1)[1]
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = _T

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import json  # noqa: E402

import numpy as np  # noqa: E402
from machine import cpu_name, load  # noqa: E402

METRICS = ["rsa", "procrustes", "cca", "pwcca", "rv_coefficient"]


def data(n, d):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = a + rng.standard_normal((n, d), dtype=np.float32)
    return a, b


def load_peer(path):
    """The peer's metric registry from a checkout, without its experiment-driver imports."""
    pkg = os.path.join(os.path.abspath(path), "aristotelian")
    if not os.path.isdir(os.path.join(pkg, "metrics")):
        sys.exit(f"--peer {path}: no aristotelian/metrics there")
    mod = types.ModuleType("aristotelian")
    mod.__path__ = [pkg]
    sys.modules["aristotelian"] = mod
    import aristotelian.metrics as am
    from aristotelian.metrics import rsa as peer_rsa

    return am, peer_rsa


def peer_commit(path):
    try:
        return subprocess.run(["git", "-C", path, "log", "-1", "--format=%H (%cs)"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def fmt_t(s):
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 0.1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def timed(f):
    t0 = time.perf_counter()
    r = f()
    return time.perf_counter() - t0, r


def time_score(f, reps, budget):
    """Per-call seconds of up to `reps` calls of f (at least one; no new call once `budget`
    seconds were spent) and the last result."""
    ts, r = [], None
    while len(ts) < reps and (not ts or sum(ts) < budget):
        t, r = timed(f)
        ts.append(t)
    return ts, r


def calib_run(run, perms, probe, max_s):
    """run(P) -> (p_value, null_mean). Returns (seconds, measured_perms, extrapolated, p,
    null_mean)."""
    probe = max(2, min(probe, perms))
    if probe >= perms:
        t, (p, nm) = timed(lambda: run(perms))
        return t, perms, False, p, nm
    t1, _ = timed(lambda: run(1))
    t, (p, nm) = timed(lambda: run(probe))
    # The fixed cost once, the samples' cost from the difference of the two probes.
    est = t1 + max(t - t1, 0.0) * (perms - 1) / (probe - 1)
    if est > max_s:
        return est, probe, True, p, nm
    t, (p, nm) = timed(lambda: run(perms))
    return t, perms, False, p, nm


def child(args):
    """One side, one metric, one D, in this process only: prints one JSON line."""
    T, m, d = args.threads, args.child_metric, args.child_d
    a, b = data(args.n, d)
    wa, wb = data(128, 64)
    out = dict(load_before=load())
    if args.child == "repalign":
        import repalign

        repalign.score(wa, wb, m, threads=T)  # warm-up
        f = lambda: repalign.score(a, b, m, threads=T)  # noqa: E731

        def run(k):
            c = repalign.calibrate(a, b, m, permutations=k, seed=0, threads=T)
            return c.p_value, c.null_mean

        probe = args.probe
    else:
        import torch

        torch.set_num_threads(T)
        am, peer_rsa = load_peer(args.peer)
        reg, cfg = am.MetricRegistry, am.MetricConfig
        X, Y = torch.from_numpy(a), torch.from_numpy(b)
        reg.compute_raw(m, torch.from_numpy(wa), torch.from_numpy(wb))  # warm-up
        torch.manual_seed(0)
        f = lambda: reg.compute_raw(m, X, Y)  # noqa: E731

        def run(k):
            torch.manual_seed(0)
            res = reg.compute(m, X, Y, cfg(calibrate=True, num_permutations=k))
            return res.pvalue, res.mean_null

        probe = args.peer_probe
        out["torch_threads"] = torch.get_num_threads()
    ts, score = time_score(f, args.reps, args.score_budget)
    out.update(times=ts, score=score)
    out["calib"] = calib_run(run, args.permutations, probe, args.max_calib_s)
    if args.child == "peer" and m == "rsa":
        t, sf = timed(lambda: float(peer_rsa._spearman_corr_torch(peer_rsa._rsa_vector(X), peer_rsa._rsa_vector(Y))))
        out.update(full_rdm_time=t, full_rdm_score=sf)
    out["load_after"] = load()
    print(json.dumps(out), flush=True)


def side(args, which, m, d):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", which, "--child-metric", m,
           "--child-d", str(d), "--peer", args.peer, "--threads", str(args.threads),
           "--n", str(args.n), "--reps", str(args.reps), "--score-budget", str(args.score_budget),
           "--permutations", str(args.permutations), "--probe", str(args.probe),
           "--peer-probe", str(args.peer_probe), "--max-calib-s", str(args.max_calib_s)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{which} {m} D={d} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def versions():
    code = ("import numpy, torch, repalign; print(numpy.__version__, torch.__version__, "
            "getattr(repalign, '__version__', '?'))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()


def fmt_x(x):
    return f"{x:.0f}×" if x >= 10 else f"{x:.2f}×"


def fmt_calib(c):
    secs, measured, extrap = c[0], c[1], c[2]
    if extrap:
        return f"≈ {fmt_t(secs)} ({measured} measured)"
    return fmt_t(secs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, help="checkout of mlbio-epfl/Aristotelian")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--dims", default="768,4096")
    ap.add_argument("--metrics", default=",".join(METRICS))
    ap.add_argument("--reps", type=int, default=5, help="score calls per side (at most)")
    ap.add_argument("--score-budget", type=float, default=30.0,
                    help="no new score call once a side used this many seconds")
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--probe", type=int, default=10, help="repalign probe permutations")
    ap.add_argument("--peer-probe", type=int, default=3, help="peer probe permutations")
    ap.add_argument("--max-calib-s", type=float, default=300.0,
                    help="extrapolate from the probe when P permutations would take longer")
    ap.add_argument("--quick", action="store_true",
                    help="--reps 2 --score-budget 10 --probe 5 --peer-probe 2 --max-calib-s 60")
    ap.add_argument("--child", choices=["repalign", "peer"], help=argparse.SUPPRESS)
    ap.add_argument("--child-metric", help=argparse.SUPPRESS)
    ap.add_argument("--child-d", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.reps, args.score_budget, args.probe, args.peer_probe, args.max_calib_s = 2, 10.0, 5, 2, 60.0
    if args.child:
        return child(args)
    if not os.path.isdir(os.path.join(args.peer, "aristotelian", "metrics")):
        sys.exit(f"--peer {args.peer}: no aristotelian/metrics there")
    T = args.threads
    dims = [int(x) for x in args.dims.split(",") if x]
    metrics = [m for m in args.metrics.split(",") if m]
    P = args.permutations
    npv, tv, rv = (versions() + ["?"] * 3)[:3]
    print(f"CPU: {cpu_name()}; Python {platform.python_version()}, numpy {npv}, torch {tv}, repalign {rv}")
    print(f"peer: mlbio-epfl/Aristotelian {peer_commit(args.peer)} at {args.peer}")
    print(f"threads {T}, N = {args.n}, dims {dims}, permutations {P}, reps <= {args.reps}, "
          f"score budget {args.score_budget} s, probe {args.probe} / peer probe {args.peer_probe}, "
          f"max calibration {args.max_calib_s} s")
    print(f"load before: {load()}", flush=True)

    rows, vals = [], []
    for d in dims:
        for m in metrics:
            r = side(args, "repalign", m, d)
            p = side(args, "peer", m, d)
            row = dict(metric=m, d=d, tr=statistics.median(r["times"]), tp=statistics.median(p["times"]),
                       nr=len(r["times"]), np=len(p["times"]), sr=r["score"], sp=p["score"],
                       cr=r["calib"], cp=p["calib"])
            rows.append(row)
            print(f"  {m} D={d}: score {fmt_t(row['tr'])} vs {fmt_t(row['tp'])} "
                  f"({row['sr']:.9f} vs {row['sp']:.9f}); calibration {fmt_calib(row['cr'])} vs "
                  f"{fmt_calib(row['cp'])}; load {r['load_before']} / {p['load_before']} / {p['load_after']}",
                  flush=True)
            if "full_rdm_score" in p:
                vals.append(dict(metric="rsa (peer full RDM)", d=d, tf=p["full_rdm_time"],
                                 sr=r["score"], sf=p["full_rdm_score"]))

    print(f"\nload after: {load()}\n")
    print(f"N = {args.n}, f32, {T} threads each, each side in its own process; score: median of "
          f"the calls (repalign / peer calls in the last column); calibration = raw score + "
          f"{P}-permutation null, one run (≈: extrapolated linearly from the probe).\n")
    print("| metric | D | repalign score | peer score | peer ÷ repalign | \\|Δ score\\| | "
          f"repalign {P}-perm calibration | peer {P}-perm calibration | peer ÷ repalign | calls |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cratio = r["cp"][0] / r["cr"][0]
        mark = "≈ " if (r["cp"][2] or r["cr"][2]) else ""
        print(f"| {r['metric']} | {r['d']} | {fmt_t(r['tr'])} | {fmt_t(r['tp'])} | "
              f"{fmt_x(r['tp'] / r['tr'])} | {abs(r['sr'] - r['sp']):.1e} | {fmt_calib(r['cr'])} | "
              f"{fmt_calib(r['cp'])} | {mark}{fmt_x(cratio)} | {r['nr']} / {r['np']} |")
    for v in vals:
        print(f"| {v['metric']} | {v['d']} | — | {fmt_t(v['tf'])} (1 call) | — | "
              f"{abs(v['sr'] - v['sf']):.1e} | — | — | — | — |")

    print("\nScores, p-values and null means (from the probe's permutations where the time is "
          "extrapolated).\n")
    print("| metric | D | repalign score | peer score | repalign p (perms) | peer p (perms) | "
          "repalign null mean | peer null mean |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cr, cp = r["cr"], r["cp"]
        print(f"| {r['metric']} | {r['d']} | {r['sr']:.9f} | {r['sp']:.9f} | {cr[3]:.4g} ({cr[1]}) | "
              f"{cp[3]:.4g} ({cp[1]}) | {cr[4]:.6f} | {cp[4]:.6f} |")
    for v in vals:
        print(f"| {v['metric']} | {v['d']} | {v['sr']:.9f} | {v['sf']:.9f} | — | — | — | — |")


if __name__ == "__main__":
    main()
