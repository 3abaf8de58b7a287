#!/usr/bin/env python3
"""The Python package's cost over the Rust core, and repalign against the paper's code.

    python benches/python_binding.py [--threads 1,2] [--reps 5] [--rounds 15] [--quick]
                                     [--reference /path/to/platonic-rep/metrics.py]

Measures, in one process (each figure a median; A and B alternate within every round, and
which goes first alternates between rounds):

  a. Binding overhead, N = 1024, D = 768, f32, mutual_knn k = 10: `repalign.mutual_knn(a,
     b, 10, threads=t)` timed per call with time.perf_counter, against
     `repalign._repalign._bench_score` (the core's `metrics::score` timed in Rust, same
     views, no Python in the loop). Overhead = median(Python) / median(Rust) - 1.
  b. Fixed per-call cost at N = 64 (D = 64 and 768): median(Python) - median(Rust), in us.
     Plus components of it: `_inputs.as_array`, `np.asarray`, the native `_repalign.score`
     without the Python wrapper, and the native call forced onto the watched path (a
     progress callback makes it run on a scoped thread, as calls above ~2e7 multiply-adds
     do) - the difference is that path's thread spawn and wake-up.
  c. Against the paper's implementation (minyoungg/platonic-rep `metrics.py`, passed with
     --reference; the section is skipped when it is absent - its code is never part of this
     repository): `AlignmentMetrics.measure("mutual_knn", A, B, topk=10)` on torch CPU
     f32 tensors, N = 1024, D = 4096, against `repalign.compat.AlignmentMetrics.measure`
     (all cores, the compat API has no threads argument) with torch on all cores, and
     against `repalign.mutual_knn(..., threads=t)` with `torch.set_num_threads(t)`.
     The reference imports torchaudio, scikit-learn and pymp at module level; mutual_knn
     uses none of them, so modules that do not import are replaced by empty stubs in
     sys.modules before the reference is loaded (the script says which).

Prints markdown tables with the CPU, the load average before and after each section, the
thread counts, medians, ratios and the two scores of section c.
"""
import argparse
import importlib.util
import os
import statistics
import sys
import time
import types

import numpy as np
from machine import cpu_name, load

import repalign
from repalign import _inputs, _repalign

SPEC10 = repalign._spec("mutual_knn", 10, None, None, None, None, None)


def med(xs):
    return statistics.median(xs)


def gauss(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)


def time_calls(f, reps):
    """Per-call seconds of `reps` calls of f()."""
    out = []
    pc = time.perf_counter
    for _ in range(reps):
        t0 = pc()
        f()
        out.append(pc() - t0)
    return out


def paired(fa, fb, rounds, reps):
    """Rounds of `reps` calls of fa then fb (or fb then fa on odd rounds). fa/fb take reps
    and return per-call seconds. Returns (all A samples, all B samples, per-round ratio A/B
    of the round medians)."""
    sa, sb, ratios = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            xa = fa(reps)
            xb = fb(reps)
        else:
            xb = fb(reps)
            xa = fa(reps)
        sa += xa
        sb += xb
        ratios.append(med(xa) / med(xb))
    return sa, sb, ratios


def rotated(fs, rounds, reps):
    """Like `paired` for any number of functions: forward order on even rounds, reversed
    on odd ones. Returns each function's samples and per-round medians."""
    samples = [[] for _ in fs]
    medians = [[] for _ in fs]
    for r in range(rounds):
        order = range(len(fs)) if r % 2 == 0 else reversed(range(len(fs)))
        for i in order:
            x = fs[i](reps)
            samples[i] += x
            medians[i].append(med(x))
    return samples, medians


def pct(xs, q):
    return float(np.percentile(np.asarray(xs), q))


def fmt_t(s):
    if s >= 0.1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def section_overhead(threads_list, rounds, reps):
    print(f"\n### a. Binding overhead, N = 1024, D = 768, f32, mutual_knn k = 10 (load before: {load()})\n")
    a, b = gauss(1024, 768, 1), gauss(1024, 768, 2)
    print("| threads | Python `mutual_knn` | Rust `metrics::score` | overhead (medians) | "
          "overhead (paired, min–max over rounds) | Python p10 / p90 | Rust p10 / p90 | "
          "Python calls > 1.5 × Rust median | rounds × reps |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for t in threads_list:
        py = lambda n: time_calls(lambda: repalign.mutual_knn(a, b, 10, threads=t), n)  # noqa: E731
        rs = lambda n: _repalign._bench_score(a, b, SPEC10, n, t)  # noqa: E731
        assert abs(repalign.mutual_knn(a, b, 10, threads=t) - repalign.mutual_knn(a, b, 10, threads=1)) == 0
        py(2), rs(2)  # warm-up
        sa, sb, ratios = paired(py, rs, rounds, reps)
        mp, mr = med(sa), med(sb)
        ov = mp / mr - 1
        print(f"| {t} | {fmt_t(mp)} | {fmt_t(mr)} | {ov * 100:+.1f} % | "
              f"{(med(ratios) - 1) * 100:+.1f} % ({(min(ratios) - 1) * 100:+.1f} … {(max(ratios) - 1) * 100:+.1f} %) "
              f"| {fmt_t(pct(sa, 10))} / {fmt_t(pct(sa, 90))} | {fmt_t(pct(sb, 10))} / {fmt_t(pct(sb, 90))} "
              f"| {sum(x > 1.5 * mr for x in sa)} / {len(sa)} | {rounds} × {reps} |", flush=True)
        rows.append((t, mp, mr, ov))
    print(f"\n(load after: {load()})")
    return rows


def section_fixed(threads_list, rounds, reps):
    print(f"\n### b. Fixed per-call cost at N = 64, f32, mutual_knn k = 10 (load before: {load()})\n")
    print("| D | threads | Python `mutual_knn` | Rust `metrics::score` | difference | "
          "paired difference (min–max) | rounds × reps |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for d in (64, 768):
        a, b = gauss(64, d, 3), gauss(64, d, 4)
        for t in threads_list:
            py = lambda n: time_calls(lambda: repalign.mutual_knn(a, b, 10, threads=t), n)  # noqa: E731
            rs = lambda n: _repalign._bench_score(a, b, SPEC10, n, t)  # noqa: E731
            py(50), rs(50)
            sa, sb, _ = paired(py, rs, rounds, reps)
            # Per-round difference of medians, paired.
            diffs = []
            for r in range(rounds):
                diffs.append(med(sa[r * reps:(r + 1) * reps]) - med(sb[r * reps:(r + 1) * reps]))
            print(f"| {d} | {t} | {fmt_t(med(sa))} | {fmt_t(med(sb))} | {(med(sa) - med(sb)) * 1e6:.1f} µs | "
                  f"{med(diffs) * 1e6:.1f} µs ({min(diffs) * 1e6:.1f} … {max(diffs) * 1e6:.1f}) | {rounds} × {reps} |",
                  flush=True)

    # Where the fixed cost goes, D = 64, threads = 1 (components, each timed alone).
    a, b = gauss(64, 64, 3), gauss(64, 64, 4)
    noop = lambda stage, done, total: None  # noqa: E731
    comps = {
        "`np.asarray(a)` (no-op on an ndarray)": lambda: np.asarray(a),
        "`_inputs.as_array(a, 'a')`": lambda: _inputs.as_array(a, "a"),
        "`_inputs.as_array` of a torch tensor (DLPack)": None,
        "`repalign._spec(...)` + `progress_callback(None)`": lambda: (
            repalign._spec("mutual_knn", 10, None, None, None, None, False),
            repalign.progress_callback(None, "mutual_knn")),
        "Rust `metrics::score` alone (`_bench_score`)": None,
        "native `_repalign.score` (inline path, no Python wrapper)":
            lambda: _repalign.score(a, b, SPEC10, 1, None, None),
        "native `_repalign.score` forced onto the watched path (progress callback)":
            lambda: _repalign.score(a, b, SPEC10, 1, None, noop),
        "`repalign.mutual_knn` (whole Python call)": lambda: repalign.mutual_knn(a, b, 10, threads=1),
    }
    try:
        import torch

        ta = torch.from_numpy(a)
        comps["`_inputs.as_array` of a torch tensor (DLPack)"] = lambda: _inputs.as_array(ta, "a")
    except ImportError:
        del comps["`_inputs.as_array` of a torch tensor (DLPack)"]
    n = max(reps // 2, 10)
    for f in comps.values():
        if f:
            time_calls(f, 20)
    samples = {k: [] for k in comps}
    for r in range(rounds):
        keys = list(comps) if r % 2 == 0 else list(reversed(comps))
        for k in keys:
            f = comps[k]
            samples[k] += _repalign._bench_score(a, b, SPEC10, n, 1) if f is None else time_calls(f, n)
    print(f"\nComponents, N = 64, D = 64, threads = 1 ({rounds} rounds × {n}, order alternating; "
          f"load after: {load()}):\n")
    print("| component | p10 | median | p90 | calls > 40 ms |")
    print("|---|---:|---:|---:|---:|")
    for k, v in samples.items():
        print(f"| {k} | {pct(v, 10) * 1e6:.2f} µs | {med(v) * 1e6:.2f} µs | {pct(v, 90) * 1e6:.2f} µs "
              f"| {sum(x > 0.04 for x in v)} / {len(v)} |")


def load_reference(path):
    """The paper's metrics.py as a module; stubs for its unused imports that do not load."""
    stubbed = []
    for name, attrs in (("torchaudio", {}), ("torchaudio.functional", {}),
                        ("sklearn", {}), ("sklearn.cross_decomposition", {"CCA": object})):
        top = name.split(".")[0]
        try:
            importlib.import_module(name)
        except ImportError:
            m = types.ModuleType(name)
            for k, v in attrs.items():
                setattr(m, k, v)
            sys.modules[name] = m
            if "." in name:
                setattr(sys.modules[top], name.split(".", 1)[1], m)
            stubbed.append(name)
    spec = importlib.util.spec_from_file_location("platonic_ref_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, stubbed


def section_reference(path, threads_list, rounds, reps):
    print(f"\n### c. Against the paper's `AlignmentMetrics.measure(\"mutual_knn\", A, B, topk=10)`, "
          f"N = 1024, D = 4096, f32 torch CPU tensors (load before: {load()})\n")
    if not path or not os.path.exists(path):
        print(f"SKIPPED: the reference metrics.py was not found ({path!r}); fetch minyoungg/platonic-rep "
              "and pass --reference /path/to/metrics.py")
        return None
    import torch

    from repalign.compat import AlignmentMetrics as Compat

    ref, stubbed = load_reference(path)
    print(f"Reference: {path}; stub modules: {', '.join(stubbed) if stubbed else 'none'}; "
          f"pymp: {'yes' if getattr(ref, 'pymp_available', False) else 'no'}; torch {torch.__version__}.\n")
    A = torch.from_numpy(gauss(1024, 4096, 5))
    B = torch.from_numpy(gauss(1024, 4096, 6))
    cores = os.cpu_count() or 1
    torch_default = torch.get_num_threads()
    configs = [("compat (all cores) vs reference (torch all cores)", cores,
                lambda: Compat.measure("mutual_knn", A, B, topk=10))]
    for t in threads_list:
        configs.append((f"`mutual_knn(threads={t})` vs reference (torch {t} threads)", t,
                        (lambda t=t: repalign.mutual_knn(A, B, 10, threads=t))))
    # The score from the reference's own neighbour lists, counted exactly (integers, then one
    # division): the reference averages float32 row scores, which can round differently.
    with torch.no_grad():
        ka = ref.compute_nearest_neighbors(A, 10).numpy()
        kb = ref.compute_nearest_neighbors(B, 10).numpy()
    overlap = sum(len(set(x) & set(y)) for x, y in zip(ka.tolist(), kb.tolist()))
    exact = overlap / (10 * A.shape[0])
    print("| comparison | threads | reference | repalign (Python) | Rust core alone | speedup (medians) | "
          "paired speedup (min–max) | speedup of the core | rounds × reps | score reference / repalign |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    out = []
    an, bn = A.numpy(), B.numpy()
    for label, t, rep in configs:
        torch.set_num_threads(t)
        fr = lambda n: time_calls(lambda: ref.AlignmentMetrics.measure("mutual_knn", A, B, topk=10), n)  # noqa: E731
        fp = lambda n: time_calls(rep, n)  # noqa: E731
        fc = lambda n, t=t: _repalign._bench_score(an, bn, SPEC10, n, t)  # noqa: E731
        s_ref = ref.AlignmentMetrics.measure("mutual_knn", A, B, topk=10)
        s_rep = rep()
        fr(1), fp(1), fc(1)
        (sa, sb, sc), (ma, mb, _) = rotated([fr, fp, fc], rounds, reps)
        ratios = [x / y for x, y in zip(ma, mb)]
        mr, mp, mc = med(sa), med(sb), med(sc)
        if s_ref == s_rep:
            same = "identical"
        elif exact == s_rep:
            ulps = abs(s_ref - s_rep) / float(np.spacing(np.float32(s_rep)))
            same = (f"the reference's own neighbour lists give exactly {exact!r} = repalign's; its float32 "
                    f"mean is {ulps:.1f} float32 ulp off")
        else:
            same = f"DIFFERENT (exact overlap of the reference's lists: {exact!r})"
        print(f"| {label} | {t} | {fmt_t(mr)} | {fmt_t(mp)} | {fmt_t(mc)} | {mr / mp:.2f}× | {med(ratios):.2f}× "
              f"({min(ratios):.2f}–{max(ratios):.2f}) | {mr / mc:.2f}× | {rounds} × {reps} | "
              f"{s_ref!r} / {s_rep!r}: {same} |", flush=True)
        out.append((label, t, mr, mp, mc, s_ref, s_rep))
    torch.set_num_threads(torch_default)
    print(f"\n(load after: {load()})")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cores = os.cpu_count() or 1
    p.add_argument("--threads", default=",".join(sorted({"1", str(cores)}, key=int)),
                   help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--reps", type=int, default=5, help="calls per side per round at N = 1024 (default 5)")
    p.add_argument("--rounds", type=int, default=15, help="rounds, order alternating (default 15)")
    p.add_argument("--small-reps", type=int, default=200,
                   help="calls per side per round at N = 64 (default 200; x rounds = samples)")
    p.add_argument("--reference", default=None, help="the paper's metrics.py (section c is skipped without it)")
    p.add_argument("--quick", action="store_true", help="few rounds and reps: a smoke test, not a measurement")
    p.add_argument("--sections", default="abc", help="which sections to run (default abc)")
    args = p.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    rounds, reps, small = args.rounds, args.reps, args.small_reps
    if args.quick:
        rounds, reps, small = 3, 2, 20

    print("## repalign Python binding benchmark\n")
    print(f"- CPU: {cpu_name()} ({cores} logical CPUs); ISA: {repalign.available_isas()[0]}")
    print(f"- load average (1/5/15 min) at start: {load()}")
    print(f"- Python {sys.version.split()[0]}, numpy {np.__version__}, repalign {repalign.__version__} "
          f"({os.path.dirname(repalign.__file__)})")
    print(f"- command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    if "a" in args.sections:
        section_overhead(threads, rounds, reps)
    if "b" in args.sections:
        section_fixed(threads, rounds, small)
    if "c" in args.sections:
        section_reference(args.reference, threads, rounds if not args.quick else 2, max(reps // 2, 1) if not args.quick else 1)
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
