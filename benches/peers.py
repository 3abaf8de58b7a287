#!/usr/bin/env python3
"""Peer comparison: the exact self-kNN graph (k neighbours, self excluded) of one N x D
matrix, timed in one run with the same thread count for every tool.

    python3 benches/peers.py [--threads 2] [--reps 5] [--shapes 4096x4096,1024x768] [--k 10]

Tools (each runs in its own subprocess, so its peak RSS is its own):
  repalign   C ABI (target/release/librepalign.so via ctypes), f32 and native f16 input
  numpy      X @ X.T (OpenBLAS) + argpartition + sort of the top k; f16 is converted first
  torch      torch.mm + topk; f16 is converted first
  faiss      IndexFlatIP search with k + 1, self dropped
Prints a table of medians, the ratio to repalign f32, GFLOP/s counted as 2 N^2 D, and peak RSS.
Requirements: benches/requirements-peers.txt. Build first: cargo build --release -p repalign-capi
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the peers' environment only.
"""
import argparse
import ctypes
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data(n, d, dtype):
    """Gaussian rows as f32, f16, or bf16 (numpy has no bf16: its bits as uint16, rounded to
    nearest even)."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    if dtype == "bf16":
        bits = x.view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return x.astype(np.float16) if dtype == "f16" else x


def as_f32(x):
    """The peers' input: f32 (bf16 bits widened exactly, f16 converted)."""
    import numpy as np

    if x.dtype == np.uint16:
        return (x.astype(np.uint32) << 16).view(np.float32)
    return x.astype(np.float32, copy=False)


@functools.cache
def repalign_abi():
    """The C ABI's library and structures, set up once per process (as any binding would),
    not inside the timed call: defining the ctypes classes on every call cost 0.3-0.5 ms of
    a 4 ms 1024 x 768 graph."""
    lib = ctypes.CDLL(os.path.join(ROOT, "target", "release", "librepalign.so"))

    class Matrix(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_uint32), ("rows", ctypes.c_size_t),
                    ("cols", ctypes.c_size_t), ("row_stride", ctypes.c_size_t), ("len", ctypes.c_size_t)]

    class Options(ctypes.Structure):
        _fields_ = [("similarity", ctypes.c_uint32), ("threads", ctypes.c_size_t), ("isa", ctypes.c_uint32)]

    return lib, Matrix, Options


def run_repalign(x, k, threads):
    import numpy as np

    lib, Matrix, Options = repalign_abi()
    n, d = x.shape
    code = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.uint16): 2}[x.dtype]
    m = Matrix(x.ctypes.data, code, n, d, d, n * d)
    opts = Options(0, threads, 0)
    idx = np.empty((n, k), dtype=np.uint32)
    scores = np.empty((n, k), dtype=np.float32)
    isa = ctypes.c_uint32(0)
    st = lib.repalign_knn_graph(ctypes.byref(m), ctypes.c_size_t(k), ctypes.byref(opts),
                                idx.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), ctypes.c_size_t(n * k),
                                scores.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.c_size_t(n * k),
                                ctypes.byref(isa))
    if st != 0:
        raise RuntimeError(f"repalign status {st}")
    return idx


def run_numpy(x, k, threads):
    import numpy as np

    x = as_f32(x)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    part = np.argpartition(-s, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def run_torch(x, k, threads):
    import torch

    t = torch.from_numpy(as_f32(x))
    s = torch.mm(t, t.T)
    s.fill_diagonal_(float("-inf"))
    return torch.topk(s, k, dim=1).indices.numpy()


def run_faiss(x, k, threads):
    import faiss
    import numpy as np

    x = np.ascontiguousarray(as_f32(x))
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, idx = index.search(x, k + 1)
    # Drop self (normally first; with ties it may sit elsewhere).
    return np.array([[j for j in row if j != i][:k] for i, row in enumerate(idx)])


TOOLS = {"repalign": run_repalign, "numpy": run_numpy, "torch": run_torch, "faiss": run_faiss}


def worker(tool, dtype, n, d, k, threads, reps):
    """Runs in a subprocess: times `reps` runs after one warm-up, reports JSON."""
    if tool == "torch":
        import torch

        torch.set_num_threads(threads)
    if tool == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
    x = data(n, d, dtype)
    fn = TOOLS[tool]
    first = fn(x, k, threads)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x, k, threads)
        times.append(time.perf_counter() - t0)
    blas = ""
    if tool == "numpy":
        from threadpoolctl import threadpool_info

        blas = ";".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"times": times, "rss_mib": rss, "first_row": [int(v) for v in first[0]], "blas": blas}, sys.stdout)


def sgemm(threads, n=4096):
    """OpenBLAS sgemm GFLOP/s (A @ B, distinct operands) in a subprocess with `threads` threads."""
    code = (f"import numpy as np,time;r=np.random.default_rng(1);a=r.standard_normal(({n},{n}),dtype=np.float32);"
            f"b=r.standard_normal(({n},{n}),dtype=np.float32);a@b;t=[];\n"
            f"for _ in range(3):\n t0=time.perf_counter();a@b;t.append(time.perf_counter()-t0)\n"
            f"t.sort();print(2*{n}**3/t[1]/1e9)")
    return float(subprocess.check_output([sys.executable, "-c", code], env=peer_env(threads)).decode())


def peer_env(threads):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shapes", default="4096x4096,1024x768")
    ap.add_argument("--tools", default="repalign,numpy,torch,faiss")
    ap.add_argument("--dtypes", default="f32,f16", help="any of f32, f16, bf16 (the peers widen to f32)")
    ap.add_argument("--worker", nargs=6, metavar=("TOOL", "DTYPE", "N", "D", "K", "THREADS"))
    args = ap.parse_args()
    if args.worker:
        tool, dtype, n, d, k, threads = args.worker
        worker(tool, dtype, int(n), int(d), int(k), int(threads), args.reps)
        return
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    fam = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith(("cpu family", "model\t"))][:2]
    print(f"CPU: {cpu} (family/model {'/'.join(fam)}), {os.cpu_count()} logical cores")
    print(f"threads={args.threads} k={args.k} reps={args.reps} (median of reps after one warm-up)")
    for threads in sorted({1, args.threads}):
        peak = sgemm(threads)
        print(f"OpenBLAS sgemm 4096^3, {threads} thread(s): {peak:.1f} GFLOP/s")
    rows = []
    for shape in args.shapes.split(","):
        n, d = map(int, shape.split("x"))
        base = None
        for dtype in args.dtypes.split(","):
            for tool in args.tools.split(","):
                env = peer_env(args.threads) if tool != "repalign" else dict(os.environ)
                cmd = [sys.executable, __file__, "--reps", str(args.reps), "--worker", tool, dtype, str(n), str(d),
                       str(args.k), str(args.threads)]
                try:
                    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
                except subprocess.CalledProcessError as e:
                    print(f"{tool} {dtype} {shape}: failed: {e.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(out)
                med = statistics.median(r["times"])
                if tool == "repalign" and dtype == "f32":
                    base = med
                if r["blas"]:
                    print(f"numpy BLAS: {r['blas']}")
                rows.append((shape, dtype, tool, med, med / base if base else float("nan"),
                             2 * n * n * d / med / 1e9, r["rss_mib"]))
    # "actual": the N^2 D flops a self graph needs (each pair once), as a share of sgemm's rate.
    print(f"\n{'shape':>10} {'dtype':>5} {'tool':>9} {'median s':>9} {'/ repalign f32':>14} {'GFLOP/s':>8} "
          f"{'actual % sgemm':>14} {'peak RSS MiB':>12}")
    for shape, dtype, tool, med, ratio, gf, rss in rows:
        print(f"{shape:>10} {dtype:>5} {tool:>9} {med:>9.4f} {ratio:>14.2f} {gf:>8.1f} "
              f"{100 * gf / 2 / peak:>14.0f} {rss:>12.0f}")


if __name__ == "__main__":
    main()
