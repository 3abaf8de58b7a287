#!/usr/bin/env python3
"""The paper's 13 x 13 layer sweep (mutual kNN, k = 10, N = 1024, D = 768) against repalign's,
on one machine in one run: the performance issue's "sweep >= 200x the paper's implementation".

    python3 benches/paper_sweep.py --reference /path/to/platonic-rep/metrics.py [--threads 2] [--pairs 6]

The paper's `compute_score` scores every layer pair on its own: for each (i, j) it normalises
both layers and calls `AlignmentMetrics.measure("mutual_knn", x, y, topk=10)`, which builds
both kNN lists from scratch (torch `x @ x.T`, a full argsort per row). Its time is
`--pairs` such pairs timed (torch with `--threads` threads, median per pair) times the 169
pairs. repalign is timed through its CLI's `seconds` (compute only) on the same layers saved
as N x L x D .npy files: `repalign sweep A.npy B.npy --metric mutual_knn --k 10 --prepare
normalize`. Build it first: `cargo build --release --features cli`. The reference is loaded
as in `benches/python_binding.py` (its unused imports stubbed), never vendored.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_binding import load_reference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "target", "release", "repalign")
N, D, L, K = 1024, 768, 13, 10


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the paper's metrics.py (minyoungg/platonic-rep)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=6, help="paper pairs timed (extrapolated to L x L)")
    ap.add_argument("--reps", type=int, default=5, help="repalign sweeps timed")
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    ref, _ = load_reference(args.reference)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((N, L, D), dtype=np.float32)
    b = rng.standard_normal((N, L, D), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)

    def paper_pair(i, j):
        x, y = F.normalize(ta[:, i, :], p=2, dim=-1), F.normalize(tb[:, j, :], p=2, dim=-1)
        return ref.AlignmentMetrics.measure("mutual_knn", x, y, topk=K)

    paper_pair(0, 0)  # warm-up
    times, scores = [], []
    for p in range(args.pairs):
        i, j = p % L, (3 * p + 1) % L
        t0 = time.perf_counter()
        scores.append(paper_pair(i, j))
        times.append(time.perf_counter() - t0)
    per_pair = statistics.median(times)
    paper = per_pair * L * L

    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = os.path.join(tmp, "A.npy"), os.path.join(tmp, "B.npy")
        np.save(pa, a)
        np.save(pb, b)
        cmd = [CLI, "sweep", pa, pb, "--metric", "mutual_knn", "--k", str(K), "--prepare", "normalize",
               "--threads", str(args.threads), "--json"]
        runs = [json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                for _ in range(args.reps + 1)][1:]
    ours = statistics.median(r["seconds"] for r in runs)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}; threads {args.threads}; torch {torch.__version__}")
    print(f"paper: {args.pairs} pairs timed, median {per_pair * 1e3:.1f} ms per pair "
          f"(min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}) -> {L}x{L} = {paper:.2f} s")
    print(f"repalign sweep: median {ours * 1e3:.1f} ms of {args.reps} "
          f"({', '.join('%.1f' % (r['seconds'] * 1e3) for r in runs)})")
    print(f"speedup: {paper / ours:.0f}x")


if __name__ == "__main__":
    main()
