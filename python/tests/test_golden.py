"""The golden data of the paper's reference implementation (tests/data/golden, see
../shared/golden/README.md for the schema), through the native API and the compat layer,
on numpy arrays and torch tensors. Mirrors tests/golden.rs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import repalign
from repalign.compat import AlignmentMetrics, compute_score, prepare_features

from conftest import (
    KNN_METRICS,
    PIPELINE_TYPES,
    case,
    case_inputs,
    cases,
    close,
    expected,
    load_golden,
    metric_cases,
    ordered,
)

KINDS = ("numpy", "torch")


def as_kind(x: np.ndarray, kind: str):
    # The cached golden arrays are read-only; torch wants a writable buffer.
    return torch.from_numpy(np.array(x)) if kind == "torch" else x


def native(r: dict, x, y) -> float:
    """The reference call `r` through repalign.score."""
    name, p = r["metric"], r["params"]
    if name in KNN_METRICS:
        return repalign.score(x, y, name, k=p["topk"])
    if name in ("cka", "unbiased_cka"):
        kernel = p.get("kernel_metric", "ip")
        sigma = p.get("rbf_sigma", 1.0) if kernel == "rbf" else None
        return repalign.score(x, y, name, kernel=kernel, sigma=sigma)
    if name == "cknna":
        assert not p.get("distance_agnostic", False)
        return repalign.score(x, y, "cknna", k=p["topk"], unbiased=p.get("unbiased", True))
    if name == "svcca":
        return repalign.score(x, y, "svcca", cca_dim=p["cca_dim"])
    raise AssertionError(name)


def compat(r: dict, x, y) -> float:
    """The reference call `r` through the drop-in, with the reference's own keywords."""
    return AlignmentMetrics.measure(r["metric"], x, y, **r["params"])


def check_results(c: dict, kind: str, call) -> int:
    a, b = case_inputs(c)
    a, b = as_kind(a, kind), as_kind(b, kind)
    bad, n = [], 0
    for r in c["results"]:
        x, y = ordered(r, a, b)
        got = call(r, x, y)
        assert isinstance(got, float), (r["metric"], type(got))
        if r["metric"] == "svcca":
            # The reference is randomised: compare with the exact definition.
            want, tol = r["exact_f64"], r["tolerance_abs_vs_exact_f64"]
            if not close(got, r["expected"], r["tolerance_abs"]):
                bad.append(f"svcca {r['params']}: {got} vs reference {r['expected']} (tol {r['tolerance_abs']})")
        else:
            want, tol = expected(r), r["tolerance_abs"]
            if "exact_f64" in r and r["metric"] in KNN_METRICS and abs(got - r["exact_f64"]) > 1e-12:
                bad.append(f"{r['metric']} {r['params']} {r['args']}: {got} vs exact rational {r['exact_f64']}")
        if not close(got, want, tol):
            bad.append(f"{r['metric']} {r['params']} {r['args']}: {got} vs {want} (tol {tol})")
        n += 1
    assert not bad, f"{c['id']} ({kind}):\n" + "\n".join(bad)
    return n


IDS = [c["id"] for c in metric_cases()]


def test_golden_set_is_complete():
    assert len(IDS) >= 17
    assert sum(len(c["results"]) for c in metric_cases()) >= 540
    assert len(cases(*PIPELINE_TYPES)) == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case_id", IDS)
def test_metric_values_native(case_id, kind):
    assert check_results(case(case_id), kind, native) >= 5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case_id", IDS)
def test_metric_values_compat(case_id, kind):
    assert check_results(case(case_id), kind, compat) >= 5


@pytest.mark.parametrize("case_id", [c["id"] for c in metric_cases() if "knn" in c])
def test_knn_lists_equal_the_reference(case_id):
    c = case(case_id)
    a, b = case_inputs(c)
    for side, x in (("A", a), ("B", b)):
        want = load_golden(c["knn"][side]["file"])
        kmax = want.shape[1]
        for kind in KINDS:
            g = repalign.knn_graph(as_kind(x, kind), kmax)
            assert g.indices.shape == want.shape
            np.testing.assert_array_equal(g.indices, want, err_msg=f"{case_id} {side} {kind}")
        # Every instruction set and thread count gives the same lists.
        for isa in repalign.available_isas():
            for threads in (1, 2):
                gi = repalign.knn_graph(x, kmax, isa=isa, threads=threads)
                np.testing.assert_array_equal(gi.indices, want, err_msg=f"{case_id} {side} {isa} {threads}")
                np.testing.assert_array_equal(gi.scores, g.scores, err_msg=f"{case_id} {side} {isa} {threads}")
        # The similarities are the inner products, in descending order.
        sims = np.take_along_axis(x.astype(np.float64) @ x.astype(np.float64).T, want.astype(np.int64), axis=1)
        np.testing.assert_allclose(g.scores, sims, rtol=1e-4, atol=1e-4 * np.abs(sims).max())
        assert (np.diff(g.scores, axis=1) <= 0).all()


# Pipeline -------------------------------------------------------------------------------

PIPE_IDS = [c["id"] for c in cases(*PIPELINE_TYPES)]
MODES = {"exact": "paper", "nonexact": "paper-per-sample"}


def sweep_kwargs(r: dict) -> dict:
    k = r["params"].get("topk")
    return {} if k is None else {"k": k}


def check_sweep(c, variant, res, r, what):
    tol = r["tolerance_abs"]
    want = np.array(r["score_matrix"], dtype=np.float64)
    assert res.scores.shape == want.shape, what
    np.testing.assert_allclose(res.scores, want, rtol=0, atol=tol, err_msg=what)
    assert res.best_index == tuple(r["best_indices"]), what
    assert abs(res.best - r["best_score"]) <= tol, what


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variant", ["exact", "nonexact"])
@pytest.mark.parametrize("case_id", PIPE_IDS)
def test_pipeline_sweep(case_id, variant, kind):
    c = case(case_id)
    v = c["pipeline"][variant]
    a, b = case_inputs(c)
    ta, tb = as_kind(a, kind), as_kind(b, kind)
    for r in v["results"]:
        what = f"{case_id} {variant} {r['metric']} {kind}"
        res = repalign.sweep(ta, tb, r["metric"], prepare=MODES[variant], **sweep_kwargs(r))
        check_sweep(c, variant, res, r, what)
        # A list of layers is the same model (prepared layer by layer only when a list is
        # given with prepare; here the whole tensor is prepared first).
        pa = repalign.prepare(ta, MODES[variant])
        pb = repalign.prepare(tb, MODES[variant])
        res2 = repalign.sweep([pa[:, i] for i in range(pa.shape[1])], [pb[:, j] for j in range(pb.shape[1])],
                              r["metric"], **sweep_kwargs(r))
        np.testing.assert_array_equal(res2.scores, res.scores, err_msg=what)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variant", ["exact", "nonexact"])
@pytest.mark.parametrize("case_id", PIPE_IDS)
def test_pipeline_compat(case_id, variant, kind):
    """compute_score(prepare_features(x, exact), prepare_features(y, exact), ...): the
    normalisation happens in compute_score, on the clamped features."""
    c = case(case_id)
    v = c["pipeline"][variant]
    a, b = case_inputs(c)
    ta, tb = as_kind(a, kind), as_kind(b, kind)
    exact = variant == "exact"
    xa, xb = prepare_features(ta, exact=exact), prepare_features(tb, exact=exact)
    if kind == "torch":
        assert isinstance(xa, torch.Tensor) and xa.dtype == torch.float32
    else:
        assert isinstance(xa, np.ndarray) and xa.dtype == np.float32
    for r in v["results"]:
        topk = r["params"].get("topk", 10)
        best, idx = compute_score(xa, xb, r["metric"], topk, normalize=True)
        what = f"{case_id} {variant} {r['metric']} {kind}"
        assert idx == tuple(r["best_indices"]), what
        assert abs(best - r["best_score"]) <= r["tolerance_abs"], what


@pytest.mark.parametrize("variant", ["exact", "nonexact"])
@pytest.mark.parametrize("case_id", PIPE_IDS)
def test_pipeline_thresholds(case_id, variant):
    c = case(case_id)
    ro = c["pipeline"][variant]["remove_outliers"]
    a, b = case_inputs(c)
    for side, x in (("A", a), ("B", b)):
        want = np.float32(ro[side]["threshold"])
        for kind in KINDS:
            got = repalign.threshold(as_kind(x, kind), ro["q"], per_sample=variant == "nonexact")
            if variant == "exact":
                assert np.float32(got) == want, (side, kind, got, want)
                # The threshold is the element at int(q * numel) of the sorted |x|.
                assert want == np.sort(np.abs(x.astype(np.float32)), axis=None)[ro[side]["sorted_index"]]
            else:
                assert abs(got - want) <= 1e-6 * want, (side, kind, got, want)
        # The clamp-only preparation clamps at that threshold and changes nothing else.
        mode = "clamp" if variant == "exact" else "clamp-per-sample"
        p = repalign.prepare(x, mode, ro["q"])
        t = np.float32(repalign.threshold(x, ro["q"], per_sample=variant == "nonexact"))
        np.testing.assert_array_equal(p, np.clip(x.astype(np.float32), -t, t))


@pytest.mark.parametrize("case_id", PIPE_IDS)
def test_pipeline_knn_lists(case_id):
    c = case(case_id)
    v = c["pipeline"]["exact"]
    a, b = case_inputs(c)
    for side, x in (("A", a), ("B", b)):
        want = load_golden(v["knn"][side]["file"])  # L x N x 10
        p = repalign.prepare(x, "paper")
        assert p.shape == x.shape and p.dtype == np.float32
        for layer in range(x.shape[1]):
            g = repalign.knn_graph(p[:, layer, :], 10)
            np.testing.assert_array_equal(g.indices, want[layer], err_msg=f"{case_id} {side} layer {layer}")


def test_no_pair_above_zero():
    c = case("edge_score_nonpositive_n10")
    cs = c["compute_score"]
    a, b = case_inputs(c)
    want = np.array(cs["score_matrix"])
    res = repalign.sweep(a, b, cs["metric"], prepare="normalize")
    assert res.best == 0.0 and res.best_index is None
    np.testing.assert_allclose(res.scores, want, rtol=0, atol=cs["tolerance_abs"])
    for kind in KINDS:
        assert compute_score(as_kind(a, kind), as_kind(b, kind), cs["metric"]) == (0, None)


# Edge cases: where the reference returns a value silently, repalign raises ----------------


def edge_calls(case_id: str, metric: str | None = None) -> list[dict]:
    return [x for x in case(case_id)["calls"] if metric is None or x["metric"] == metric]


@pytest.mark.parametrize("kind", KINDS)
def test_edge_nan_is_an_error(kind):
    a, b = (as_kind(x, kind) for x in case_inputs(case("edge_nan_n10_d8")))
    for metric in ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn"):
        with pytest.raises(ValueError, match=r"row 2, column 3"):
            repalign.score(a, b, metric, k=2)
        with pytest.raises(ValueError, match=r"row 2, column 3"):
            AlignmentMetrics.measure(metric, a, b, topk=2)
    for metric in ("cka", "unbiased_cka"):
        with pytest.raises(ValueError, match=r"row 2, column 3"):
            repalign.score(a, b, metric)
    with pytest.raises(ValueError, match=r"row 2, column 3"):
        AlignmentMetrics.cknna(a, b, topk=3)
    with pytest.raises(ValueError, match=r"row 2, column 3"):
        repalign.knn_graph(a, 2)
    # In the second argument the row and column are the same.
    with pytest.raises(ValueError, match=r"row 2, column 3"):
        repalign.score(b, a, "mutual_knn", k=2)


def test_edge_d0_is_an_error():
    a, b = case_inputs(case("edge_d0_n5"))
    assert a.shape == (5, 0)
    for metric, kw in (("mutual_knn", {"k": 2}), ("cka", {}), ("cknna", {"k": 2}), ("svcca", {"cca_dim": 1})):
        with pytest.raises(ValueError):
            repalign.score(a, b, metric, **kw)
    with pytest.raises(ValueError):
        repalign.knn_graph(a, 2)
    with pytest.raises(ValueError):
        AlignmentMetrics.measure("mutual_knn", a, b, topk=2)


def test_edge_n1_is_an_error():
    a, b = case_inputs(case("edge_n1_d4"))
    with pytest.raises(ValueError, match="k"):
        repalign.score(a, b, "mutual_knn", k=1)
    with pytest.raises(ValueError):
        AlignmentMetrics.measure("mutual_knn", a, b, topk=1)


def test_edge_k_out_of_range():
    a, b = case_inputs(case("edge_topk_ge_n_n6"))
    for k in (0, 6, 7):
        for metric in KNN_METRICS:
            with pytest.raises(ValueError, match=r"at least 1" if k == 0 else r"1\.\.=5"):
                repalign.score(a, b, metric, k=k)
            with pytest.raises(ValueError):
                AlignmentMetrics.measure(metric, a, b, topk=k)
    # k = N - 1 is the largest k and agrees with the reference.
    for call in edge_calls("edge_topk_ge_n_n6"):
        if call["outcome"] == "value" and call["params"].get("topk") == 5 and call["metric"] in KNN_METRICS:
            got = repalign.score(a, b, call["metric"], k=5)
            assert abs(got - expected(call)) <= call.get("tolerance_abs", 1e-5), call
            if "exact_f64" in call:
                assert abs(got - call["exact_f64"]) < 1e-12


def test_edge_duplicates_ties_broken_by_lower_index():
    a, b = case_inputs(case("edge_duplicates_n12_d6"))
    n = 0
    for call in edge_calls("edge_duplicates_n12_d6"):
        want = call.get("value_with_ties_broken_by_lower_index_first")
        if want is None or call["metric"] not in KNN_METRICS:
            continue
        got = repalign.score(a, b, call["metric"], k=call["params"]["topk"])
        assert abs(got - want) < 1e-12, (call, got)
        n += 1
    assert n >= 4


def test_edge_small_n3():
    a, b = case_inputs(case("edge_small_n3"))
    n = 0
    for call in edge_calls("edge_small_n3"):
        p = call["params"]
        want = expected(call) if call["outcome"] == "value" else None
        if want is not None and np.isnan(want):
            # unbiased estimators at N = 3 divide by zero: the reference's NaN is an error here.
            with pytest.raises(ValueError):
                native({**call, "params": p}, a, b)
            continue
        got = native({**call, "params": p}, a, b)
        ref = call.get("exact_f64", want)
        assert abs(got - ref) <= call.get("tolerance_abs", 1e-5), (call, got)
        n += 1
    assert n >= 3


@pytest.mark.parametrize("case_id", [c["id"] for c in metric_cases() if "knn" in c])
def test_knn_metrics_from_the_reference_lists(case_id):
    """score_graphs on the reference's own neighbour lists (independent of repalign's kNN
    search) gives the exact rationals."""
    c = case(case_id)
    la, lb = load_golden(c["knn"]["A"]["file"]), load_golden(c["knn"]["B"]["file"])
    n = 0
    for r in c["results"]:
        if r["metric"] not in KNN_METRICS:
            continue
        k = r["params"]["topk"]
        x, y = ordered(r, la, lb)
        got = repalign.score_graphs(x[:, :k], y[:, :k], r["metric"])
        assert abs(got - r["exact_f64"]) < 1e-12, (r, got)
        assert abs(got - expected(r)) <= r["tolerance_abs"]
        n += 1
    assert n >= 8
