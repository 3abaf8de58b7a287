#!/usr/bin/env python3
"""repalign against a baseline that computes the metrics the way the paper's reference
implementation does (our own torch code, written from ../shared/golden/README.md): per
layer pair, two Gram matrices with torch.mm, the diagonal filled, a full argsort of every
row, N x N neighbour masks; HSIC with centring matrices; clamping by a full sort of |x|.

    python3 benches/reference_baseline.py [--threads 2] [--quick]

repalign is timed through its CLI's own "seconds" field (compute only: file reading is
excluded, as the baseline's data is already in memory). Build it first:
    cargo build --release --features cli
Requirements: benches/requirements-peers.txt (numpy, torch; scikit-learn for svcca).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "target", "release", "repalign")


# --- the reference's computations, as its documentation describes them -------------------
def knn_lists(x, k):
    s = torch.mm(x, x.T)
    s.fill_diagonal_(-1e8)
    return torch.argsort(s, dim=1, descending=True)[:, :k]


def masks(idx, n):
    m = torch.zeros(n, n)
    m.scatter_(1, idx, 1.0)
    return m


def mutual_knn(a, b, k):
    n = a.shape[0]
    ma, mb = masks(knn_lists(a, k), n), masks(knn_lists(b, k), n)
    return ((ma * mb).sum(1) / k).mean().item()


def cycle_knn(a, b, k):
    n = a.shape[0]
    ka, kb = knn_lists(a, k), knn_lists(b, k)
    ma = masks(ka, n)
    return (ma[kb, torch.arange(n).unsqueeze(1)].sum(1) > 0).float().mean().item()


def lcs_knn(a, b, k):
    ka, kb = knn_lists(a, k).tolist(), knn_lists(b, k).tolist()
    total = 0
    for x, y in zip(ka, kb):
        dp = [[0] * (k + 1) for _ in range(k + 1)]
        for i in range(k):
            for j in range(k):
                dp[i + 1][j + 1] = dp[i][j] + 1 if x[i] == y[j] else max(dp[i][j + 1], dp[i + 1][j])
        total += dp[k][k]
    return total / len(ka)


def edit_distance_knn(a, b, k):
    ka, kb = knn_lists(a, k).tolist(), knn_lists(b, k).tolist()
    total = 0
    for x, y in zip(ka, kb):
        prev = list(range(k + 1))
        for i in range(k):
            cur = [i + 1] + [0] * k
            for j in range(k):
                cur[j + 1] = min(prev[j] + (x[i] != y[j]), prev[j + 1] + 1, cur[j] + 1)
            prev = cur
        total += prev[k]
    return 1 - total / len(ka) / k


def hsic_biased(k, l):
    n = k.shape[0]
    h = torch.eye(n) - torch.ones(n, n) / n
    return torch.trace(k @ h @ l @ h)


def hsic_unbiased(k, l):
    m = k.shape[0]
    k, l = k.clone(), l.clone()
    k.fill_diagonal_(0)
    l.fill_diagonal_(0)
    one = torch.ones(m, 1)
    t1 = torch.trace(k @ l)
    t2 = (one.T @ k @ one @ one.T @ l @ one) / ((m - 1) * (m - 2))
    t3 = (one.T @ k @ l @ one) * 2 / (m - 2)
    return (t1 + t2 - t3) / (m * (m - 3))


def cka(a, b, unbiased=False):
    k, l = torch.mm(a, a.T), torch.mm(b, b.T)
    h = hsic_unbiased if unbiased else hsic_biased
    return (h(k, l) / (torch.sqrt(h(k, k) * h(l, l)) + 1e-6)).item()


def cknna(a, b, topk, unbiased=True):
    k, l = torch.mm(a, a.T), torch.mm(b, b.T)
    n = k.shape[0]

    def mask(m):
        m = m.clone()
        if unbiased:
            m.fill_diagonal_(float("-inf"))
        return masks(torch.topk(m, topk, dim=1).indices, n)

    h = hsic_unbiased if unbiased else hsic_biased
    mk, ml = mask(k), mask(l)
    w = mk * ml
    return (h(w * k, w * l) / (torch.sqrt(h(mk * k, mk * k) * h(ml * l, ml * l)) + 1e-6)).item()


def svcca(a, b, cca_dim=10):
    from sklearn.cross_decomposition import CCA

    def std(x):
        return (x - x.mean(0)) / (x.std(0) + 1e-8)

    ua = torch.svd_lowrank(std(a), q=cca_dim, niter=2)[0]
    ub = torch.svd_lowrank(std(b), q=cca_dim, niter=2)[0]
    cca = CCA(n_components=cca_dim, max_iter=500)
    xa, xb = cca.fit_transform(ua.numpy(), ub.numpy())
    return float(np.mean([np.corrcoef(xa[:, i], xb[:, i])[0, 1] for i in range(cca_dim)]))


METRICS = {
    "mutual_knn": lambda a, b: mutual_knn(a, b, 10),
    "cycle_knn": lambda a, b: cycle_knn(a, b, 10),
    "lcs_knn": lambda a, b: lcs_knn(a, b, 10),
    "edit_distance_knn": lambda a, b: edit_distance_knn(a, b, 10),
    "cka": lambda a, b: cka(a, b),
    "unbiased_cka": lambda a, b: cka(a, b, unbiased=True),
    "cknna": lambda a, b: cknna(a, b, 10),
    "svcca": lambda a, b: svcca(a, b),
}


def remove_outliers_exact(x, q=0.95):
    flat = x.abs().flatten()
    t = torch.sort(flat).values[int(q * flat.numel())]
    return x.clamp(-t, t)


# --- harness ------------------------------------------------------------------------------
def cli(*args):
    out = subprocess.run([CLI, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best_of(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], value


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp(prefix="repalign-bench-")
    t = str(args.threads)
    rows = []

    # 1. Layer sweep, 13 x 13, N = 1024, D = 768, mutual_knn k = 10, rows normalised.
    n, layers, d = (256, 4, 128) if args.quick else (1024, 13, 768)
    base = rng.standard_normal((n, d), dtype=np.float32)
    xa = np.stack([base @ rng.standard_normal((d, d), dtype=np.float32) + rng.standard_normal((n, d), dtype=np.float32) for _ in range(layers)], 1)
    xb = np.stack([base @ rng.standard_normal((d, d), dtype=np.float32) + rng.standard_normal((n, d), dtype=np.float32) for _ in range(layers)], 1)
    pa, pb = os.path.join(tmp, "a.npy"), os.path.join(tmp, "b.npy")
    np.save(pa, xa.astype(np.float32))
    np.save(pb, xb.astype(np.float32))
    ta, tb = torch.from_numpy(xa), torch.from_numpy(xb)

    def baseline_sweep():
        best = 0
        for i in range(layers):
            for j in range(layers):
                s = mutual_knn(F.normalize(ta[:, i], dim=-1), F.normalize(tb[:, j], dim=-1), 10)
                best = max(best, s)
        return best

    tb_sweep, vb = best_of(baseline_sweep, 1)
    r = cli("sweep", pa, pb, "--metric", "mutual_knn", "--k", "10", "--prepare", "normalize", "--threads", t, "--json")
    rows.append((f"sweep {layers}x{layers} mutual_knn N={n} D={d}", tb_sweep, r["seconds"], vb, r["best"]))

    # 2. Each metric at N = 1024, D = 1024 (normalised rows).
    n, d = (256, 128) if args.quick else (1024, 1024)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = a @ rng.standard_normal((d, d), dtype=np.float32) * 0.1 + rng.standard_normal((n, d), dtype=np.float32)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    fa, fb = os.path.join(tmp, "ma.npy"), os.path.join(tmp, "mb.npy")
    np.save(fa, a.astype(np.float32))
    np.save(fb, b.astype(np.float32))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    for name, fn in METRICS.items():
        try:
            tm, vm = best_of(lambda: fn(ta, tb), 3)
        except ImportError as e:
            print(f"{name}: baseline skipped ({e})")
            continue
        times = [cli("score", fa, fb, "--metric", name, "--k", "10", "--threads", t, "--json") for _ in range(3)]
        r = sorted(times, key=lambda x: x["seconds"])[1]
        rows.append((f"{name} N={n} D={d}", tm, r["seconds"], vm, r["score"]))

    # 3. Exact clamp (q = 0.95) + normalisation of an N x L x D tensor.
    n, layers, d = (256, 5, 512) if args.quick else (1024, 25, 4096)
    x = rng.standard_normal((n, layers, d), dtype=np.float32)
    px = os.path.join(tmp, "x.npy")
    np.save(px, x)
    tx = torch.from_numpy(x)
    tc, _ = best_of(lambda: F.normalize(remove_outliers_exact(tx), dim=-1), 3)
    del tx
    times = [cli("prepare", px, "--prepare", "paper", "--out", os.path.join(tmp, "y.npy"), "--json") for _ in range(3)]
    r = sorted(times, key=lambda x: x["seconds"])[1]
    rows.append((f"clamp+normalize {n}x{layers}x{d}", tc, r["seconds"], float("nan"), r["threshold"]))

    print(f"\nthreads={args.threads}; medians; values: baseline vs repalign (kNN values can differ where ties"
          " break differently; svcca: randomised baseline vs exact)")
    print(f"{'case':<44} {'baseline s':>11} {'repalign s':>11} {'speedup':>8}   values")
    for case, tb_, tr, vb_, vr in rows:
        print(f"{case:<44} {tb_:>11.4f} {tr:>11.4f} {tb_ / tr:>7.0f}x   {vb_:.5f} / {vr:.5f}")


if __name__ == "__main__":
    main()
