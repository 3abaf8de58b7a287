"""How many pairs would a certified low-precision prefilter have to rescore exactly?

For an exact k-nearest-neighbour self graph on inner products (self excluded), a prefilter
computes a cheap approximation a_ij of the exact score s_ij and a rigorous per-pair bound
b_ij with |s_ij - a_ij| <= b_ij. Pair (i, j) must be rescored exactly iff a_ij + b_ij could
reach row i's or row j's threshold (ties count as "could reach", i.e. >=). This script
counts those survivors; it measures, it does not implement a prefilter.

Exact scores. The engine's s_ij is an f32 chain of fused multiply-adds over the D features
in order. Here s_ij is the float64 dot product of the float32 rows (relative error
~1e-16); the engine's f32 value differs from it by at most gamma_D ||x|| ||y|| (measured
<= 2.3e-6 ||x|| ||y|| by --fma-check), so thresholds taken from the f64 scores move by
about 1/1000 of the median bf16 bound (3.5e-3 ||x|| ||y||). `--fma-check` emulates the f32 FMA chain
for a few rows (each step: exact f64 product, f64 add, round to f32; double rounding is
possible but only at exact f32 midpoints) and reports the largest deviation and whether
the row-direction survivor counts change.

Bounds (float64 analysis, u = 2^-24, gamma_n = n u / (1 - n u)):
* f32 reference error: |s - x.y| <= gamma_D ||x|| ||y||  (Cauchy-Schwarz on sum |x_p y_p|).
* bf16: xh = x rounded to bf16 (nearest even, via float32 bit operations), e_x = x - xh.
  a = xh.yh accumulated in f32, emulated here as the exact (f64) dot product; the f32
  accumulation error is covered by the gamma_2D term.
      b = gamma_D ||x|| ||y|| + ||e_x|| ||y|| + ||xh|| ||e_y|| + gamma_2D ||xh|| ||yh||
  (x.y - xh.yh = x.e_y + e_x.yh; Cauchy-Schwarz on each term.)
* int8: per-row scale sigma = max|x| / 127 (f32), q = rint(x / sigma) clipped to
  [-127, 127], xh = sigma q; the integer dot q_x.q_y is exact (done in f64, which is
  exact for these magnitudes); a = sigma_x sigma_y (q_x.q_y), here in f64 (the real
  scheme's f32 scale products are covered by the relative 4u|a| term).
      b = gamma_D ||x|| ||y|| + ||e_x|| ||y|| + ||xh|| ||e_y|| + 4u |a|
* oracle (not certifiable; shows how loose Cauchy-Schwarz is): the term
  ||e_x|| ||y|| + ||xh|| ||e_y|| is replaced by the per-pair exact |x.e_y + e_x.yh| =
  |x.y - xh.yh| (computed in f64), the other terms kept.
The bound used for the unordered pair is min(b_ij, b_ji) (both are valid; a is symmetric).

Thresholds.
* final: t_i = row i's exact k-th best score (self excluded); pair survives iff
  a_ij + b_ij >= min(t_i, t_j). This is the tightest possible, so a lower bound on the
  survivor count of any prefilter using these (a, b).
* online (row direction only, an upper estimate): row i sees the candidates j != i in
  increasing index order in blocks of 256 columns; when judging a block its threshold is
  the k-th best exact score among the candidates already rescored in earlier blocks
  (-inf while fewer than k); survivors of the block are rescored and join the row's list.
* final row-only: a_ij + b_ij >= t_i only (the row direction, comparable with online).
* 2-pass row-only (certified, needs no exact score): L_i = k-th largest of a_ij - b_ij
  over j != i is a lower bound on t_i; pair survives iff a_ij + b_ij >= L_i. This is what a
  prefilter that first scans the whole row in low precision would rescore.
Survivor fraction = survivors / ordered pairs (i, j != i) over the query rows.
"floor" = fraction of pairs with s_ij >= min(t_i, t_j), which any exact method must keep.
"panels" = fraction of row-panels (row i x 32 consecutive candidate columns, aligned at
multiples of 32) that contain at least one survivor: the rescoring work if survivors are
rescored in 1 x 32 strips. "med b/nn" = median over pairs of b_ij / (||x_i|| ||x_j||).

Data.
* Gaussian: numpy default_rng(0).standard_normal((N, D), dtype=float32), raw and with
  L2-normalised rows (normalised in f32): 1024x768, 4096x4096 (row chunks), and 16384x768
  where only a random subset of 2048 query rows (default_rng(1).choice, sorted) is scored
  against all 16384 (thresholds t_j of all 16384 rows are computed exactly).
* Real: data/color-demo/minilm.f16.npy and e5.f16.npy (913 x 384, XKCD colour-name
  embeddings of all-MiniLM-L6-v2 and 4-bit multilingual-e5-small, L2-normalised before the
  float16 cast; see scripts/color-demo/README.md), and the per-layer mean-pooled hidden
  states in minilm_layers.safetensors (layers 0,2,4,6) and e5_layers.safetensors
  (layers 0,4,8,12), 913 x 384 float16 each, not normalised. All cast to f32; used raw and
  L2-normalised. The safetensors files are parsed with numpy (no extra package).
* Adversarial (1024 x 768): "outlier" = Gaussian with feature 0 multiplied by 1000;
  "const outlier" = Gaussian with feature 0 set to 1000 in every row (a "massive
  activation": it adds the same 1e6 to every score, so the ranking is decided by the other
  767 features while ||x|| is dominated by feature 0);
  "dup16" = 64 normalised Gaussian base rows, each repeated 16 times with every
  coordinate moved by 0 or +-1 ulp at random (np.nextafter); "dupall" = one base row
  repeated 1024 times with the same 1-ulp perturbations.

Usage (from the repository root):
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benches/prefilter_bounds.py [--quick]
        [--fma-check] [--markdown OUT.md]
--quick runs only the 1024x768 Gaussian, the two real embeddings and the adversarial
cases. Requires numpy only.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

U = 2.0 ** -24
BLOCK = 256
PANEL = 32
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "color-demo")


def gamma(n):
    return n * U / (1.0 - n * U)


# ---------------------------------------------------------------- quantisers
def to_bf16(x):
    """Round float32 to bf16 (nearest, ties to even), returned as float32."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return r.view(np.float32)


def to_int8(x):
    """Per-row symmetric int8: sigma (f32, per row), q (int values as f64)."""
    x = np.asarray(x, dtype=np.float32)
    sigma = (np.abs(x).max(axis=1) / np.float32(127)).astype(np.float32)
    safe = np.where(sigma > 0, sigma, np.float32(1))
    q = np.clip(np.rint(x / safe[:, None]), -127, 127)
    q[sigma == 0] = 0
    return sigma, q.astype(np.float64)


class Prepared:
    """Per-row quantities of one matrix (f64 copies, norms, quantised forms)."""

    def __init__(self, x32):
        self.n, self.d = x32.shape
        self.x = x32.astype(np.float64)
        self.nx = np.linalg.norm(self.x, axis=1)
        xb = to_bf16(x32).astype(np.float64)
        self.xb = xb
        self.nxb = np.linalg.norm(xb, axis=1)
        self.neb = np.linalg.norm(self.x - xb, axis=1)
        sigma, q = to_int8(x32)
        self.sig = sigma.astype(np.float64)
        self.q = q
        xi = self.sig[:, None] * q
        self.nxi = np.linalg.norm(xi, axis=1)
        self.nei = np.linalg.norm(self.x - xi, axis=1)


def topk_exact(P, kmax, chunk):
    """Sorted (descending) kmax best exact scores of every row, self excluded."""
    n = P.n
    out = np.empty((n, kmax))
    for r0 in range(0, n, chunk):
        r1 = min(n, r0 + chunk)
        s = P.x[r0:r1] @ P.x.T
        s[np.arange(r1 - r0), np.arange(r0, r1)] = -np.inf
        part = -np.partition(-s, kmax - 1, axis=1)[:, :kmax]
        out[r0:r1] = -np.sort(-part, axis=1)
    return out


def online_mask(ub, s, selfmask, kk):
    """Row-direction online survivors. ub, s: (R, N); self excluded via selfmask.
    Returns boolean (R, N)."""
    R, N = s.shape
    best = np.full((R, kk), -np.inf)  # k best rescored exact scores (unsorted)
    mask = np.zeros((R, N), dtype=bool)
    for c0 in range(0, N, BLOCK):
        c1 = min(N, c0 + BLOCK)
        thr = best.min(axis=1)  # k-th best, -inf while fewer than k
        m = (ub[:, c0:c1] >= thr[:, None]) & ~selfmask[:, c0:c1]
        mask[:, c0:c1] = m
        cand = np.where(m, s[:, c0:c1], -np.inf)
        both = np.concatenate([best, cand], axis=1)
        best = -np.partition(-both, kk - 1, axis=1)[:, :kk]
    return mask


def panel_frac(mask):
    R, N = mask.shape
    npan = (N + PANEL - 1) // PANEL
    pad = npan * PANEL - N
    m = np.pad(mask, ((0, 0), (0, pad))) if pad else mask
    return m.reshape(R, npan, PANEL).any(axis=2).mean()


SCHEMES = ("bf16", "int8")


def analyse(x32, ks=(10,), rows=None, chunk=None, with_oracle=True):
    """Survivor statistics for the self graph of x32 (queries = rows, or all)."""
    x32 = np.ascontiguousarray(x32, dtype=np.float32)
    P = Prepared(x32)
    n, d = P.n, P.d
    gD, g2D = gamma(d), gamma(2 * d)
    if chunk is None:
        chunk = max(16, min(1024, (16 << 20) // (8 * n)))
    kmax = max(ks)
    top = topk_exact(P, kmax, chunk)
    qrows = np.arange(n) if rows is None else np.asarray(rows)
    acc = {}
    variants = [(sch, orc) for sch in SCHEMES for orc in ((False, True) if with_oracle else (False,))]
    for key in [(sch, orc, k) for (sch, orc) in variants for k in ks]:
        acc[key] = dict(fin=0, frow=0, two=0, onl=0, onl1=0, pfin=0.0, ponl=0.0)
    floor = {k: 0 for k in ks}
    relsamp = {v: [] for v in variants}
    viol = {sch: 0 for sch in SCHEMES}
    npairs = 0
    npairs1 = 0
    rng = np.random.default_rng(7)
    for r0 in range(0, len(qrows), chunk):
        ri = qrows[r0:r0 + chunk]
        R = len(ri)
        selfmask = np.zeros((R, n), dtype=bool)
        selfmask[np.arange(R), ri] = True
        s = P.x[ri] @ P.x.T
        nn = np.outer(P.nx[ri], P.nx)
        ref = gD * nn
        ab = P.xb[ri] @ P.xb.T
        ai = np.outer(P.sig[ri], P.sig) * (P.q[ri] @ P.q.T)
        cs_b = np.minimum(np.outer(P.neb[ri], P.nx) + np.outer(P.nxb[ri], P.neb),
                          np.outer(P.nx[ri], P.neb) + np.outer(P.neb[ri], P.nxb))
        cs_i = np.minimum(np.outer(P.nei[ri], P.nx) + np.outer(P.nxi[ri], P.nei),
                          np.outer(P.nx[ri], P.nei) + np.outer(P.nei[ri], P.nxi))
        extra_b = ref + g2D * np.outer(P.nxb[ri], P.nxb)
        extra_i = ref + 4 * U * np.abs(ai)
        sel = rng.random((R, n)) < min(1.0, 200000 / (len(qrows) * n))
        sel &= ~selfmask
        npairs += R * (n - 1)
        npairs1 += R * (n - BLOCK) - int((ri >= BLOCK).sum())
        for sch, orc in variants:
            a = ab if sch == "bf16" else ai
            if orc:
                b = np.abs(s - a) + (extra_b if sch == "bf16" else extra_i)
            else:
                b = (cs_b + extra_b) if sch == "bf16" else (cs_i + extra_i)
            if not orc:
                viol[sch] += int((np.abs(s - a) > b)[~selfmask].sum())
            relsamp[(sch, orc)].append((b / np.where(nn > 0, nn, 1))[sel])
            ub = a + b
            ub[selfmask] = -np.inf
            sf = np.where(selfmask, -np.inf, s)
            for k in ks:
                t = top[:, k - 1]
                tmin = np.minimum(t[ri][:, None], t[None, :])
                fin = ub >= tmin
                on = online_mask(ub, sf, selfmask, k)
                st = acc[(sch, orc, k)]
                st["fin"] += int(fin.sum())
                st["frow"] += int((ub >= t[ri][:, None]).sum())
                lb = np.where(selfmask, -np.inf, a - b)
                lk = -np.partition(-lb, k - 1, axis=1)[:, k - 1]
                st["two"] += int((ub >= lk[:, None]).sum())
                st["onl"] += int(on.sum())
                st["onl1"] += int(on[:, BLOCK:].sum())
                st["pfin"] += panel_frac(fin) * R
                st["ponl"] += panel_frac(on) * R
        for k in ks:
            t = top[:, k - 1]
            sf = np.where(selfmask, -np.inf, s)
            floor[k] += int((sf >= np.minimum(t[ri][:, None], t[None, :])).sum())
    if any(viol.values()):
        print(f"WARNING: bound violated |s - a| > b on {viol} pairs", flush=True)
    res = {}
    for (sch, orc, k), st in acc.items():
        res[(sch, orc, k)] = dict(
            fin=st["fin"] / npairs, frow=st["frow"] / npairs, two=st["two"] / npairs, onl=st["onl"] / npairs,
            onl1=st["onl1"] / max(1, npairs1),
            pfin=st["pfin"] / len(qrows), ponl=st["ponl"] / len(qrows),
            med=float(np.median(np.concatenate(relsamp[(sch, orc)]))),
            floor=floor[k] / npairs)
    return res


# ---------------------------------------------------------------- FMA check
def fma_chain(xr, y):
    """Emulated f32 FMA chain s = fma(x_p, y_p, s), p = 0..D-1, for rows xr vs all y."""
    s = np.zeros((xr.shape[0], y.shape[0]), dtype=np.float32)
    x64, y64 = xr.astype(np.float64), y.astype(np.float64)
    for p in range(xr.shape[1]):
        s = (s.astype(np.float64) + np.outer(x64[:, p], y64[:, p])).astype(np.float32)
    return s.astype(np.float64)


def fma_check(x32, nrows=64, k=10):
    x32 = np.ascontiguousarray(x32, dtype=np.float32)
    P = Prepared(x32)
    ri = np.arange(nrows)
    s64 = P.x[ri] @ P.x.T
    s32 = fma_chain(x32[ri], x32)
    nn = np.outer(P.nx[ri], P.nx)
    dev = float(np.max(np.abs(s32 - s64) / nn))
    out = {"max|s_f32-s_f64|/nn": dev, "gamma_D": gamma(P.d)}
    ab = P.xb[ri] @ P.xb.T
    b = (np.outer(P.neb[ri], P.nx) + np.outer(P.nxb[ri], P.neb) + gamma(P.d) * nn
         + gamma(2 * P.d) * np.outer(P.nxb[ri], P.nxb))
    ub = ab + b
    ub[ri, ri] = -np.inf
    counts = []
    for s in (s64, s32):
        s = s.copy()
        s[ri, ri] = -np.inf
        t = -np.partition(-s, k - 1, axis=1)[:, k - 1]
        counts.append(int((ub >= t[:, None]).sum()))
    out["bf16 row-direction survivors (f64 t, f32-chain t)"] = counts
    return out


# ---------------------------------------------------------------- data
def gaussian(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)


def normalise(x):
    x = np.asarray(x, dtype=np.float32)
    nrm = np.linalg.norm(x, axis=1, keepdims=True).astype(np.float32)
    return (x / np.where(nrm > 0, nrm, 1)).astype(np.float32)


def load_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    hl = struct.unpack("<Q", buf[:8])[0]
    head = json.loads(buf[8:8 + hl])
    dt = {"F16": np.float16, "F32": np.float32, "BF16": None, "F64": np.float64}
    out = {}
    for name, meta in head.items():
        if name == "__metadata__":
            continue
        b0, b1 = meta["data_offsets"]
        arr = np.frombuffer(buf[8 + hl + b0: 8 + hl + b1], dtype=dt[meta["dtype"]])
        out[name] = arr.reshape(meta["shape"]).astype(np.float32)
    return out


def perturb_ulp(x, rng):
    """Move every coordinate by -1, 0 or +1 ulp at random."""
    step = rng.integers(-1, 2, size=x.shape)
    up = np.nextafter(x, np.float32(np.inf))
    dn = np.nextafter(x, np.float32(-np.inf))
    return np.where(step > 0, up, np.where(step < 0, dn, x)).astype(np.float32)


def adversarial():
    rng = np.random.default_rng(3)
    out = gaussian(1024, 768, seed=2)
    out[:, 0] *= 1000
    base = normalise(gaussian(64, 768, seed=4))
    dup16 = perturb_ulp(np.repeat(base, 16, axis=0), rng)
    dupall = perturb_ulp(np.repeat(base[:1], 1024, axis=0), rng)
    const = gaussian(1024, 768, seed=5)
    const[:, 0] = 1000.0
    return [("adv outlier (f0 x1000) 1024x768", out),
            ("adv const outlier (f0 = 1000) 1024x768", const),
            ("adv dup16 (64 rows x16, 1ulp) 1024x768", dup16),
            ("adv dupall (1 row x1024, 1ulp) 1024x768", dupall)]


# ---------------------------------------------------------------- report
def pct(v, nd=3):
    return f"{100 * v:.{nd}f}"


def table_main(results):
    cols = ["dataset", "k", "floor %"]
    for sch in SCHEMES:
        cols += [f"{sch} final %", f"{sch} final row-only %", f"{sch} 2-pass row-only %", f"{sch} online %", f"{sch} online blk>=2 %",
                 f"{sch} panels final %", f"{sch} panels online %", f"{sch} med b/nn"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, k, res in results:
        r = [name, str(k), pct(res[("bf16", False, k)]["floor"])]
        for sch in SCHEMES:
            v = res[(sch, False, k)]
            r += [pct(v["fin"]), pct(v["frow"]), pct(v["two"]), pct(v["onl"]), pct(v["onl1"]), pct(v["pfin"], 2),
                  pct(v["ponl"], 2), f"{v['med']:.2e}"]
        out.append("| " + " | ".join(r) + " |")
    return out


def table_oracle(results):
    cols = ["dataset", "k", "floor %"]
    for sch in SCHEMES:
        cols += [f"{sch} CS final %", f"{sch} oracle final %", f"{sch} oracle online %",
                 f"{sch} oracle panels final %", f"{sch} CS med b/nn", f"{sch} oracle med b/nn"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, k, res in results:
        if ("bf16", True, k) not in res:
            continue
        r = [name, str(k), pct(res[("bf16", False, k)]["floor"])]
        for sch in SCHEMES:
            v, o = res[(sch, False, k)], res[(sch, True, k)]
            r += [pct(v["fin"]), pct(o["fin"]), pct(o["onl"]), pct(o["pfin"], 2),
                  f"{v['med']:.2e}", f"{o['med']:.2e}"]
        out.append("| " + " | ".join(r) + " |")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subset of datasets")
    ap.add_argument("--fma-check", action="store_true", help="emulate the f32 FMA chain on 64 rows")
    ap.add_argument("--no-oracle", action="store_true")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args()
    with_oracle = not args.no_oracle
    results = []
    extra = []

    def run(name, x, ks=(10,), rows=None):
        t0 = time.time()
        res = analyse(x, ks=ks, rows=rows, with_oracle=with_oracle)
        new = [(name, k, res) for k in ks]
        results.extend(new)
        print("\n".join(table_main(new)[2:]), f"  [{time.time() - t0:.1f}s]", flush=True)

    g = gaussian(1024, 768)
    run("gauss raw 1024x768", g, ks=(1, 10, 100))
    run("gauss norm 1024x768", normalise(g), ks=(1, 10, 100))
    for nm in ("minilm", "e5"):
        x = np.load(os.path.join(DATA, f"{nm}.f16.npy")).astype(np.float32)
        run(f"{nm} raw 913x384", x)
        run(f"{nm} norm 913x384", normalise(x))
    for nm, x in adversarial():
        run(nm, x)
    if not args.quick:
        for nm in ("minilm", "e5"):
            layers = load_safetensors(os.path.join(DATA, f"{nm}_layers.safetensors"))
            for lname in sorted(layers, key=lambda s: int(s.split(".")[1])):
                x = layers[lname]
                run(f"{nm} {lname} raw {x.shape[0]}x{x.shape[1]}", x)
                run(f"{nm} {lname} norm {x.shape[0]}x{x.shape[1]}", normalise(x))
        g = gaussian(4096, 4096)
        run("gauss raw 4096x4096", g)
        run("gauss norm 4096x4096", normalise(g))
        g = gaussian(16384, 768)
        sub = np.sort(np.random.default_rng(1).choice(16384, 2048, replace=False))
        run("gauss raw 16384x768 (2048-row subset)", g, rows=sub)
        run("gauss norm 16384x768 (2048-row subset)", normalise(g), rows=sub)
    if args.fma_check:
        for nm, x in [("gauss raw 1024x768", gaussian(1024, 768)),
                      ("minilm norm", normalise(np.load(os.path.join(DATA, "minilm.f16.npy")).astype(np.float32))),
                      adversarial()[1]]:
            fc = fma_check(x)
            print(f"fma-check {nm}: {fc}", flush=True)
            extra.append(f"fma-check {nm}: {fc}")
    text = ["## Certified bounds (Cauchy-Schwarz)", ""] + table_main(results)
    if with_oracle:
        text += ["", "## Oracle error term (not certifiable)", ""] + table_oracle(results)
    if extra:
        text += [""] + ["* " + e for e in extra]
    print("\n" + "\n".join(text))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(text) + "\n")


if __name__ == "__main__":
    sys.exit(main())
