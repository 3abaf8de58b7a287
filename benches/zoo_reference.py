#!/usr/bin/env python3
"""The reference's zoo loop, timed on a few layer pairs and extrapolated: the paper's
measurement script scores every layer pair of every model pair with mutual kNN, computing
both layers' kNN lists for each (benches/reference_baseline.py's torch code, written from
the reference's documentation), so a zoo of M models with L layers costs
M(M-1)/2 · L² layer-pair computations.

    python3 benches/zoo_reference.py [--threads 2] [--pairs 10] [--models 12] [--layers 13]
        [--n 1024] [--d 768] [--k 10]

Compare with `cargo run --release --example zoo_timing` (repalign's zoo on the same shapes).
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_baseline import mutual_knn  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, default in [("--threads", 2), ("--pairs", 10), ("--models", 12), ("--layers", 13), ("--n", 1024),
                          ("--d", 768), ("--k", 10)]:
        ap.add_argument(flag, type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    signal = torch.randn(a.n, a.d, generator=g)
    layers = [signal + 2 * torch.randn(a.n, a.d, generator=g) for _ in range(2)]
    mutual_knn(layers[0][:64], layers[1][:64], a.k)  # warm-up
    times = []
    for _ in range(a.pairs):
        t = time.perf_counter()
        mutual_knn(layers[0], layers[1], a.k)
        times.append(time.perf_counter() - t)
    per = statistics.median(times)
    model_pairs = a.models * (a.models - 1) // 2
    total = per * model_pairs * a.layers ** 2
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, N = {a.n}, D = {a.d}, k = {a.k}")
    print(f"one layer pair: {per * 1e3:.1f} ms (median of {a.pairs}); a model pair ({a.layers}^2 layer pairs): "
          f"{per * a.layers ** 2:.1f} s; the zoo ({model_pairs} model pairs): ≈ {total:.0f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
