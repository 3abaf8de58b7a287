"""Every public function, on float32 / float16 / bfloat16 numpy arrays and torch CPU
tensors, against an independent float64 numpy oracle (tests/oracle.py) run on the values
rounded to the input's dtype; and the same results for every threads= and isa=."""

from __future__ import annotations

from functools import lru_cache

import ml_dtypes
import numpy as np
import pytest
import torch

import repalign
import oracle
from conftest import correlated

K = 5
KMAX = 8


def variants(x32: np.ndarray):
    """(label, input object, the float64 values it holds)."""
    out = []
    for label, np_dtype in (("np-f32", np.float32), ("np-f16", np.float16), ("np-bf16", ml_dtypes.bfloat16)):
        x = x32.astype(np_dtype)
        out.append((label, x, x.astype(np.float64)))
    for label, t_dtype in (("torch-f32", torch.float32), ("torch-f16", torch.float16), ("torch-bf16", torch.bfloat16)):
        t = torch.from_numpy(x32.copy()).to(t_dtype)
        out.append((label, t, t.double().numpy()))
    return out


LABELS = ["np-f32", "np-f16", "np-bf16", "torch-f32", "torch-f16", "torch-bf16"]


@lru_cache(maxsize=None)
def tie_free_pair(n=60, d_a=16, d_b=24, gap=1e-3):
    """A correlated pair whose top-KMAX+1 similarities are at least `gap` apart in every
    row, in float32 and after rounding to float16 and bfloat16 (so float32 accumulation
    cannot reorder neighbours)."""
    for seed in range(1000):
        a, b = correlated(n, d_a, d_b, 0.5, seed=seed)
        if all(
            oracle.min_gap(x.astype(dt).astype(np.float64), KMAX) > gap
            for x in (a, b)
            for dt in (np.float32, np.float16, ml_dtypes.bfloat16)
        ):
            return a, b
    raise AssertionError("no tie-free seed")


def pick(label, x32):
    return next(v for v in variants(x32) if v[0] == label)


@pytest.fixture(scope="module")
def data():
    return tie_free_pair()


# kNN lists ------------------------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_knn_graph_matches_oracle(data, label):
    a, _ = data
    _, x, x64 = pick(label, a)
    g = repalign.knn_graph(x, KMAX)
    assert isinstance(g, repalign.KnnGraph) and g.k == KMAX and len(g) == len(a)
    assert g.indices.dtype == np.int32 and g.scores.dtype == np.float32
    np.testing.assert_array_equal(g.indices, oracle.knn(x64, KMAX))
    want = np.take_along_axis(x64 @ x64.T, g.indices.astype(np.int64), axis=1)
    np.testing.assert_allclose(g.scores, want, rtol=1e-5, atol=1e-5)
    assert g.isa in repalign.available_isas()
    # cosine: the lists of the row-normalised data, similarities in [-1, 1].
    gc = repalign.knn_graph(x, KMAX, cosine=True)
    xn = oracle.normalize(x64)
    want_c = np.take_along_axis(xn @ xn.T, gc.indices.astype(np.int64), axis=1)
    np.testing.assert_allclose(gc.scores, want_c, rtol=0, atol=1e-5)
    assert (np.diff(gc.scores, axis=1) <= 0).all()


@pytest.mark.parametrize("label", LABELS)
def test_knn_search_offset_and_merge(data, label):
    a, b = data
    db32 = a[:50]
    q32 = a[50:] + 0.1
    _, db, db64 = pick(label, db32)
    _, q, q64 = pick(label, q32)
    want_i, want_s = oracle.search(q64, db64, 6)
    full = repalign.knn_search(q, db, 6)
    np.testing.assert_array_equal(full.indices, want_i)
    np.testing.assert_allclose(full.scores, want_s, rtol=1e-5, atol=1e-5)
    # Two shards with their offsets, merged, are the search over the whole database.
    s1 = repalign.knn_search(q, db[:20], 6)
    s2 = repalign.knn_search(q, db[20:], 6, offset=20)
    assert s2.indices.min() >= 20
    np.testing.assert_array_equal(s2.indices - 20, repalign.knn_search(q, db[20:], 6).indices)
    m = repalign.merge([s1, s2], 6)
    np.testing.assert_array_equal(m.indices, full.indices)
    np.testing.assert_array_equal(m.scores, full.scores)
    # (indices, scores) pairs are accepted too, and a smaller k is a prefix.
    m3 = repalign.merge([(s1.indices, s1.scores), (s2.indices, s2.scores)], 3)
    np.testing.assert_array_equal(m3.indices, full.indices[:, :3])


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("cosine", [False, True])
def test_knn_search_both_is_two_searches(data, label, cosine):
    """Both directions at once: bit for bit the two searches, offsets on each side."""
    a, _ = data
    _, x, _ = pick(label, a[:50])
    _, y, _ = pick(label, a[50:] + 0.1)
    for k, (oa, ob) in ((6, (0, 0)), (1, (100, 7)), (min(len(x), len(y)), (3, 1000))):
        ab, ba = repalign.knn_search_both(x, y, k, cosine=cosine, offset_a=oa, offset_b=ob)
        for got, want in ((ab, repalign.knn_search(x, y, k, cosine=cosine, offset=ob)),
                          (ba, repalign.knn_search(y, x, k, cosine=cosine, offset=oa))):
            assert isinstance(got, repalign.KnnGraph) and got.isa == want.isa
            np.testing.assert_array_equal(got.indices, want.indices)
            np.testing.assert_array_equal(got.scores.view(np.int32), want.scores.view(np.int32))
    with pytest.raises(ValueError):
        repalign.knn_search_both(x, y[:3], 4)


# kNN metrics ----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", sorted(oracle.KNN))
@pytest.mark.parametrize("label", LABELS)
def test_knn_metrics_match_oracle(data, label, metric):
    a, b = data
    _, x, x64 = pick(label, a)
    _, y, y64 = pick(label, b)
    want = oracle.KNN[metric](x64, y64, K)
    fn = getattr(repalign, metric)
    got = fn(x, y, K)
    assert isinstance(got, float)
    assert abs(got - want) < 1e-12, (got, want)
    assert repalign.score(x, y, metric, k=K) == got
    # From neighbour lists: the same number, from graphs or index arrays.
    ga, gb = repalign.knn_graph(x, KMAX), repalign.knn_graph(y, KMAX)
    assert repalign.score_graphs(ga, gb, metric, K) == got
    assert repalign.score_graphs(ga.indices[:, :K], gb.indices[:, :K], metric) == got
    # cosine=True is the metric of the normalised rows.
    want_c = oracle.KNN[metric](oracle.normalize(x64), oracle.normalize(y64), K)
    assert abs(fn(x, y, K, cosine=True) - want_c) < 1e-12


# Kernel metrics and SVCCA ---------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_cka_matches_oracle(data, label):
    a, b = data
    _, x, x64 = pick(label, a)
    _, y, y64 = pick(label, b)
    for kw, okw in (
        ({}, {}),
        ({"kernel": "ip"}, {}),
        ({"kernel": "rbf", "sigma": 3.0}, {"kernel": "rbf", "sigma": 3.0}),
        ({"unbiased": True}, {"unbiased": True}),
    ):
        got = repalign.cka(x, y, **kw)
        want = oracle.cka(x64, y64, **okw)
        assert abs(got - want) < 1e-5, (kw, got, want)
    assert repalign.unbiased_cka(x, y) == repalign.cka(x, y, unbiased=True)
    got = repalign.unbiased_cka(x, y, kernel="rbf", sigma=4.0)
    assert abs(got - oracle.cka(x64, y64, "rbf", 4.0, unbiased=True)) < 1e-4
    assert repalign.score(x, y, "cka") == repalign.cka(x, y)


@pytest.mark.parametrize("label", LABELS)
def test_cknna(data, label):
    a, b = data
    _, x, x64 = pick(label, a)
    _, y, y64 = pick(label, b)
    # The special cases of the paper's definition: unbiased with k = N - 1 is unbiased CKA,
    # biased with k = N is CKA.
    n = len(a)
    assert abs(repalign.cknna(x, y, n - 1) - oracle.cka(x64, y64, unbiased=True)) < 1e-5
    assert abs(repalign.cknna(x, y, n, unbiased=False) - oracle.cka(x64, y64)) < 1e-5
    v = repalign.cknna(x, y, K)
    assert -1 <= v <= 1 and v == repalign.score(x, y, "cknna", k=K, unbiased=True)
    assert repalign.cknna(x, y, K, unbiased=False) != v
    # Same rounded values in float32 give the same number.
    assert v == repalign.cknna(x64.astype(np.float32), y64.astype(np.float32), K)


@pytest.mark.parametrize("label", LABELS)
def test_svcca_matches_oracle(data, label):
    a, b = data
    _, x, x64 = pick(label, a)
    _, y, y64 = pick(label, b)
    for dim in (1, 5, 10):
        got = repalign.svcca(x, y, dim)
        assert abs(got - oracle.svcca(x64, y64, dim)) < 1e-5, dim
    assert repalign.svcca(x, y) == repalign.svcca(x, y, 10) == repalign.score(x, y, "svcca")


@pytest.mark.parametrize("label", LABELS)
def test_low_precision_is_its_float32_upcast(data, label):
    """An f16/bf16 input is widened exactly: the same results as its float32 values."""
    a, b = data
    _, x, x64 = pick(label, a)
    _, y, y64 = pick(label, b)
    x32, y32 = x64.astype(np.float32), y64.astype(np.float32)
    for metric, kw in (("mutual_knn", {"k": K}), ("lcs_knn", {"k": K}), ("cka", {}), ("unbiased_cka", {}), ("cknna", {"k": K})):
        assert repalign.score(x, y, metric, **kw) == repalign.score(x32, y32, metric, **kw), metric
    g, g32 = repalign.knn_graph(x, KMAX), repalign.knn_graph(x32, KMAX)
    np.testing.assert_array_equal(g.indices, g32.indices)
    np.testing.assert_array_equal(g.scores, g32.scores)


# Preparation, thresholds, sweeps --------------------------------------------------------


def stack(seed=3, n=40, layers=3, d=12):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, layers, d)) * rng.uniform(0.5, 3, size=(n, 1, 1))
    x[rng.random(x.shape) < 0.02] *= 20  # outliers for the clamp
    return x.astype(np.float32)


@pytest.mark.parametrize("label", LABELS)
def test_threshold_and_prepare_all_modes(label):
    _, x, x64 = pick(label, stack())
    assert set(repalign.PREPARE_MODES) == {"none", "normalize", "paper", "paper-per-sample", "clamp", "clamp-per-sample"}
    for q in (0.9, 0.95, 0.5):
        t = repalign.threshold(x, q)
        assert np.float32(t) == np.float32(oracle.threshold(x64, q)), q
        tps = repalign.threshold(x, q, per_sample=True)
        assert abs(tps - oracle.threshold(x64, q, per_sample=True)) <= 1e-6 * tps, q
    t, tps = np.float32(repalign.threshold(x, 0.95)), np.float32(repalign.threshold(x, 0.95, per_sample=True))
    want = {
        "none": x64,
        "normalize": oracle.normalize(x64),
        "clamp": np.clip(x64, -t, t),
        "clamp-per-sample": np.clip(x64, -tps, tps),
        "paper": oracle.normalize(np.clip(x64, -t, t)),
        "paper-per-sample": oracle.normalize(np.clip(x64, -tps, tps)),
    }
    for mode in repalign.PREPARE_MODES:
        p = repalign.prepare(x, mode)
        assert isinstance(p, np.ndarray) and p.dtype == np.float32 and p.shape == x64.shape, mode
        np.testing.assert_allclose(p, want[mode], rtol=1e-6, atol=1e-7, err_msg=mode)
        # A 2-D input is one layer: N x D in, N x D out.
        p2 = repalign.prepare(x[:, 1, :], mode)
        assert p2.shape == (x64.shape[0], x64.shape[2])
    # The clamp modes are exact: no arithmetic besides min/max.
    np.testing.assert_array_equal(repalign.prepare(x, "clamp"), np.clip(x64, -t, t).astype(np.float32))
    assert np.array_equal(repalign.prepare(x, "clamp", 1.0), x64.astype(np.float32))


@pytest.mark.parametrize("label", ["np-f32", "np-bf16", "torch-f16"])
def test_sweep_is_every_pair(label):
    _, xa, a64 = pick(label, stack(seed=4, n=50, layers=3, d=10))
    _, xb, b64 = pick(label, stack(seed=5, n=50, layers=2, d=14))
    for metric, kw in (("mutual_knn", {"k": 4}), ("cka", {}), ("cknna", {"k": 4}), ("svcca", {"cca_dim": 3})):
        res = repalign.sweep(xa, xb, metric, **kw)
        assert isinstance(res, repalign.SweepResult) and res.scores.shape == (3, 2)
        for i in range(3):
            for j in range(2):
                assert res.scores[i, j] == repalign.score(xa[:, i, :], xb[:, j, :], metric, **kw), (metric, i, j)
        flat = int(np.argmax(res.scores))  # the first maximum in row-major order
        assert res.best_index == divmod(flat, 2) and res.best == res.scores.max()
        # A list of layers (widths may differ) is the same model.
        res_l = repalign.sweep([xa[:, i, :] for i in range(3)], [xb[:, j, :] for j in range(2)], metric, **kw)
        np.testing.assert_array_equal(res_l.scores, res.scores)
    # prepare= is the preparation followed by the sweep.
    for mode in repalign.PREPARE_MODES:
        res = repalign.sweep(xa, xb, "mutual_knn", prepare=mode, k=4)
        pa, pb = repalign.prepare(xa, mode), repalign.prepare(xb, mode)
        np.testing.assert_array_equal(res.scores, repalign.sweep(pa, pb, "mutual_knn", k=4).scores, err_msg=mode)
    # mutual_knn of one tensor with itself: every layer pair (i, i) scores 1.
    res = repalign.sweep(xa, xa, "mutual_knn", k=4)
    np.testing.assert_array_equal(np.diag(res.scores), 1.0)


# Calibration ----------------------------------------------------------------------------


def test_calibrate(data):
    a, b = data
    c = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=300, seed=3)
    assert isinstance(c, repalign.Calibration)
    assert c.raw == repalign.mutual_knn(a, b, K)
    assert c.null.shape == (300,) and c.null.dtype == np.float64
    assert c.null_mean == pytest.approx(c.null.mean(), abs=1e-12)
    assert c.null_median == pytest.approx(np.median(c.null), abs=1e-12)
    assert c.null_std == pytest.approx(c.null.std(ddof=1), rel=1e-9)
    assert c.z == pytest.approx((c.raw - c.null_mean) / c.null_std, rel=1e-9)
    assert c.p_value == pytest.approx(((c.null >= c.raw).sum() + 1) / 301, abs=1e-15)
    assert c.tau == pytest.approx(np.quantile(np.append(c.null, c.raw), 0.95), abs=1e-12)
    assert c.calibrated == pytest.approx((c.raw - c.tau) / (1 - c.tau), abs=1e-12)
    # Every null sample is a mutual_knn value: a multiple of 1 / (N k).
    counts = c.null * len(a) * K
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    # The null of independent labels is near k / (N - 1).
    assert abs(c.null_mean - K / (len(a) - 1)) < 0.02
    assert c.sweep is not None and c.sweep.scores.shape == (1, 1) and c.sweep.best == c.raw
    # Deterministic in the seed; another seed, another null.
    c2 = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=300, seed=3, threads=1)
    np.testing.assert_array_equal(c2.null, c.null)
    assert not np.array_equal(repalign.calibrate(a, b, "mutual_knn", k=K, permutations=300, seed=4).null, c.null)
    # Shuffling B destroys the alignment: a permuted B scores like the null.
    perm = np.random.default_rng(0).permutation(len(b))
    cp = repalign.calibrate(a, b[perm], "mutual_knn", k=K, permutations=300, seed=3)
    assert cp.p_value > 0.01 and c.p_value < 0.01
    # alpha moves tau.
    c10 = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=300, seed=3, alpha=0.5)
    assert c10.tau == pytest.approx(np.quantile(np.append(c.null, c.raw), 0.5), abs=1e-12)
    # Kernel metrics calibrate too.
    ck = repalign.calibrate(a, b, "cka", permutations=50, seed=1)
    assert ck.raw == repalign.cka(a, b) and ck.null.shape == (50,) and ck.z > 3


def test_calibrate_layers(data):
    a, b = data
    la = np.stack([a, a[:, ::-1].copy()], axis=1)
    lb = np.stack([b, b[:, ::-1].copy(), -b], axis=1)
    c = repalign.calibrate(la, lb, "mutual_knn", k=K, permutations=100, seed=0)
    s = repalign.sweep(la, lb, "mutual_knn", k=K)
    np.testing.assert_array_equal(c.sweep.scores, s.scores)
    assert c.raw == s.best


def test_calibrate_graphs(data):
    a, b = data
    ga, gb = repalign.knn_graph(a, K), repalign.knn_graph(b, K)
    cg = repalign.calibrate_graphs(ga, gb, "mutual_knn", permutations=200, seed=3)
    c = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=200, seed=3)
    assert cg.raw == c.raw and cg.sweep is None
    np.testing.assert_array_equal(cg.null, c.null)
    cj = repalign.calibrate_graphs(ga.indices, gb.indices, "jaccard_knn", K, permutations=50, seed=1)
    assert cj.raw == repalign.jaccard_knn(a, b, K)


# Execution options ----------------------------------------------------------------------


def test_release_memory():
    # Python's threads (pytest-xdist aside) run one test at a time: after a graph its
    # threads' buffers are kept, and freed once.
    x = np.random.default_rng(0).standard_normal((300, 40), dtype=np.float32)
    first = repalign.knn_graph(x, 5)
    assert repalign.release_memory() > 0
    assert repalign.release_memory() == 0
    again = repalign.knn_graph(x, 5)
    assert np.array_equal(first.indices, again.indices) and np.array_equal(first.scores, again.scores)


def test_available_isas():
    isas = repalign.available_isas()
    assert isas and "scalar" in isas and set(isas) <= set(repalign.ISAS)
    assert repalign.knn_graph(tie_free_pair()[0], 3).isa == isas[0]
    assert repalign.METRICS == (
        "mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn", "cka", "unbiased_cka", "cknna", "svcca",
        "rsa", "procrustes", "cca", "pwcca", "rv_coefficient",
    )
    # Every metric name has its function.
    assert all(callable(getattr(repalign, name)) for name in repalign.METRICS)


def _all_results(a, b, **opts):
    if isinstance(a, torch.Tensor):
        la, lb = torch.stack([a, a * 2], dim=1), torch.stack([b, torch.flip(b, [1])], dim=1)
    else:
        la, lb = np.stack([a, a * 2], axis=1), np.stack([b, b[:, ::-1]], axis=1)
    g = repalign.knn_graph(a, KMAX, **opts)
    out = {"graph": (g.indices.tobytes(), g.scores.tobytes())}
    s = repalign.knn_search(a[:7], b[:, :16], 4, **opts)
    out["search"] = (s.indices.tobytes(), s.scores.tobytes())
    for m in oracle.KNN:
        out[m] = repalign.score(a, b, m, k=K, **opts)
    out["cka"] = repalign.cka(a, b, **opts)
    out["rbf"] = repalign.cka(a, b, kernel="rbf", sigma=2.0, **opts)
    out["ucka"] = repalign.unbiased_cka(a, b, **opts)
    out["cknna"] = repalign.cknna(a, b, K, **opts)
    out["svcca"] = repalign.svcca(a, b, 5, **opts)
    out["prepare"] = repalign.prepare(la, "paper", **opts).tobytes()
    out["sweep"] = repalign.sweep(la, lb, "cknna", k=K, **opts).scores.tobytes()
    out["null"] = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=30, seed=1, **opts).null.tobytes()
    return out


@pytest.mark.parametrize("label", ["np-f32", "np-f16", "torch-bf16"])
def test_identical_for_every_thread_count_and_isa(data, label):
    a, b = data
    _, x, _ = pick(label, a)
    _, y, _ = pick(label, b)
    base = _all_results(x, y, threads=1, isa="scalar")
    for isa in repalign.available_isas() + ["auto", None]:
        for threads in (1, 2):
            got = _all_results(x, y, threads=threads, isa=isa)
            for key in base:
                assert got[key] == base[key], (key, isa, threads)
    x32 = x if isinstance(x, np.ndarray) else x.float().numpy()
    t1 = repalign.threshold(x32, 0.9, per_sample=True, threads=1)
    assert repalign.threshold(x32, 0.9, per_sample=True, threads=2) == t1


def test_bad_isa_is_a_value_error(data):
    a, b = data
    for call in (
        lambda: repalign.knn_graph(a, 3, isa="bogus"),
        lambda: repalign.mutual_knn(a, b, 3, isa="bogus"),
        lambda: repalign.cka(a, b, isa="bogus"),
        lambda: repalign.sweep(a, b, isa="bogus"),
        lambda: repalign.prepare(a, isa="bogus"),
    ):
        with pytest.raises(ValueError, match="bogus"):
            call()


def test_progress_true_gives_the_same_results(data):
    a, b = data
    assert repalign.mutual_knn(a, b, K) == repalign.score(a, b, "mutual_knn", k=K, progress=True)
    g = repalign.knn_graph(a, K, progress=True)
    np.testing.assert_array_equal(g.indices, repalign.knn_graph(a, K).indices)
    assert repalign.sweep(a, b, "cka", progress=True).best == repalign.cka(a, b)
    with pytest.raises(TypeError):
        repalign.knn_graph(a, K, progress="yes")


def test_progress_callable_on_a_long_sweep():
    rng = np.random.default_rng(0)
    la = rng.standard_normal((2000, 3, 256)).astype(np.float32)
    lb = rng.standard_normal((2000, 2, 128)).astype(np.float32)
    calls = []
    res = repalign.sweep(la, lb, "mutual_knn", k=10, progress=lambda *c: calls.append(c))
    assert res.scores.shape == (3, 2)
    assert calls, "the callback was never called"
    for stage, done, total in calls:
        assert stage in ("blocks", "layers", "pairs", "null") and 0 <= done <= total and total > 0
    assert calls[-1][1] == calls[-1][2]
    np.testing.assert_array_equal(res.scores, repalign.sweep(la, lb, "mutual_knn", k=10).scores)
    # A kNN graph reports blocks of rows and ends at total.
    calls.clear()
    repalign.knn_graph(la[:, 0, :], 10, progress=lambda *c: calls.append(c))
    assert calls and calls[-1][0] == "blocks" and calls[-1][1] == calls[-1][2] > 0
    # An exception in the callback propagates.
    def boom(*_):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        repalign.knn_graph(la[:, 0, :], 10, progress=boom)


def test_q_one_clamps_nothing():
    """As the reference (remove_outliers returns its input at q = 1): the threshold is
    infinite in both modes, so the clamp modes are the identity."""
    x = stack()
    for per_sample in (False, True):
        assert repalign.threshold(x, 1.0, per_sample=per_sample) == float("inf")
    for mode in ("clamp", "clamp-per-sample"):
        np.testing.assert_array_equal(repalign.prepare(x, mode, 1.0), x)
    np.testing.assert_array_equal(repalign.prepare(x, "paper-per-sample", 1.0), repalign.prepare(x, "normalize"))
    for q in (0.0, -0.5, 1.01):
        with pytest.raises(ValueError, match="q must be in"):
            repalign.threshold(x, q)


def test_progress_callable_on_a_calibration(data):
    a, b = data
    calls = []
    c = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=20000, seed=2, progress=lambda *x: calls.append(x))
    assert calls and calls[-1] == ("null", 20000, 20000)
    assert all(s in ("blocks", "layers", "pairs", "null") and 0 <= d <= t for s, d, t in calls)
    nulls = [d for s, d, _ in calls if s == "null"]
    assert nulls == sorted(nulls)
    c0 = repalign.calibrate(a, b, "mutual_knn", k=K, permutations=20000, seed=2)
    np.testing.assert_array_equal(c.null, c0.null)
    calls.clear()
    ga, gb = repalign.knn_graph(a, K), repalign.knn_graph(b, K)
    repalign.calibrate_graphs(ga, gb, permutations=5000, progress=lambda *x: calls.append(x))
    assert calls[-1] == ("null", 5000, 5000)
