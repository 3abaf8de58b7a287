"""repalign.ray.knn_graph on a local Ray cluster against the single-process
repalign.knn_graph on the same cores, and the cost model

    seconds ~= N^2 D / 2 / (workers x rate) + overhead

(every pair of rows scored once, by one task, whatever the blocks) with `rate` the
multiply-adds per second per worker of the tasks' kernel (knn_search_both of a block and a
shard, `workers` at once) measured between the runs, and `overhead` the rest (scheduling,
the driver's merges), fitted at the smallest size; the model is checked at the others.

    pip install 'repalign[ray]'; python benches/ray_knn.py [--workers 2] [--n 16384 32768]

Prints the CPU, the load, each time (median of --repeats, the two calls interleaved), the
ratio Ray / single process, and the model's prediction for each size.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import ray

import repalign
import repalign.ray as rr


def cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except Exception:
        model = platform.processor()
    return f"{model}, {os.cpu_count()} CPUs, ISA {repalign.available_isas()[0]}"


def timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def kernel_rate(x: np.ndarray, k: int, block: int, workers: int) -> float:
    """Multiply-adds per second per worker of the tasks' kernel: `workers` blocks of
    rows and a shard of half the rows searched in both directions at once, on `workers`
    threads (as the workers run side by side, sharing the machine with whatever else runs)."""
    q, shard = x[: block * workers], x[len(x) // 2 :]
    t = timed(lambda: repalign.knn_search_both(q, shard, k, threads=workers))
    return len(q) * len(shard) * x.shape[1] / t / workers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[16_384, 32_768])
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--block-rows", type=int, default=0, help="0: one block per shard")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    w = args.workers
    ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False)
    print(f"CPU: {cpu()}; load before: {os.getloadavg()}")
    print(f"f16, D = {args.d}, k = {args.k}; {w} Ray workers (1 thread each) against repalign.knn_graph(threads={w})")
    rows, blocks = [], {}
    rng = np.random.default_rng(0)
    for n in args.n:
        x = rng.standard_normal((n, args.d), dtype=np.float32).astype(np.float16)
        shards = np.array_split(x, args.shards)
        block = args.block_rows or len(shards[0])
        blocks[n] = sum(-(-len(s) // block) for s in shards)
        ref = repalign.knn_graph(x, args.k, threads=w)
        g = rr.knn_graph(shards, args.k, block_rows=block)  # warm: the workers import repalign
        assert np.array_equal(g.indices, ref.indices) and np.array_equal(g.scores, ref.scores), "not exact"
        single, dist, rates = [], [], []
        for _ in range(args.repeats):  # interleaved: the machine's load moves
            single.append(timed(lambda: repalign.knn_graph(x, args.k, threads=w)))
            dist.append(timed(lambda: rr.knn_graph(shards, args.k, block_rows=block)))
            rates.append(kernel_rate(x, args.k, min(block, n // (2 * w)), w))
        rate = statistics.median(rates)
        rows.append((n, statistics.median(single), statistics.median(dist), rate))
        print(f"  min of {args.repeats}: single {min(single):.2f} s, Ray {min(dist):.2f} s, ratio {min(dist) / min(single):.2f}x")
        print(
            f"N = {n}: single {statistics.median(single):.2f} s, Ray {statistics.median(dist):.2f} s, "
            f"ratio {statistics.median(dist) / statistics.median(single):.2f}x "
            f"(runs: single {[round(t, 2) for t in single]}, Ray {[round(t, 2) for t in dist]}); "
            f"the tasks' kernel: {rate / 1e9:.1f} G multiply-adds/s per worker"
        )
    # Work: every unordered pair once (a task per block and later range), N^2 D / 2 for any
    # B. The overhead is fitted at the smallest size; the model is checked at the others.
    rate = statistics.median(r for *_, r in rows)
    work = {n: n * n * args.d / 2 for n, *_ in rows}
    n0, _, t0, _ = rows[0]
    overhead = t0 - work[n0] / (w * rate)
    print(f"model: seconds = N^2 D / 2 / ({w} x {rate / 1e9:.1f}e9) + {overhead:.2f}  (B: blocks)")
    for n, _, t, _ in rows:
        pred = work[n] / (w * rate) + overhead
        role = "fitted" if n == n0 else "checked"
        print(f"  N = {n} (B = {blocks[n]}, {role}): predicted {pred:.2f} s, measured {t:.2f} s ({t / pred - 1:+.0%})")
    # What a task costs besides its kernel: many tiny tasks (N = 8192, D = 8, 2 shards of 128
    # blocks: 128 x 2 x 3 / 2 = 384 tasks).
    tiny, tasks = rng.standard_normal((8_192, 8), dtype=np.float32), 384
    t = min(timed(lambda: rr.knn_graph(np.array_split(tiny, 2), args.k, block_rows=32)) for _ in range(2))
    print(f"per task ({tasks} tiny tasks on {w} workers): {t / tasks * 1e3:.2f} ms wall, {t / tasks * w * 1e3:.2f} ms of a worker")
    print(f"load after: {os.getloadavg()}")
    ray.shutdown()


if __name__ == "__main__":
    main()
