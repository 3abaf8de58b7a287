"""Bad inputs raise the documented exceptions with the core's messages, never a crash."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import repalign
from repalign.compat import AlignmentMetrics, compute_score

from conftest import correlated


@pytest.fixture(scope="module")
def ab():
    return correlated(40, 8, 12, 0.5, seed=11)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rc", [(0, 0), (2, 3), (39, 7)])
def test_non_finite_names_row_and_column(ab, rc, value):
    a, b = ab
    r, c = rc
    x = a.copy()
    x[r, c] = value
    msg = f"row {r}, column {c}"
    calls = [
        lambda: repalign.mutual_knn(x, b, 5),
        lambda: repalign.jaccard_knn(b, x, 5),
        lambda: repalign.cka(x, b),
        lambda: repalign.cka(x, b, kernel="rbf"),
        lambda: repalign.unbiased_cka(b, x),
        lambda: repalign.cknna(x, b, 5),
        lambda: repalign.svcca(x, b, 4),
        lambda: repalign.knn_graph(x, 5),
        lambda: repalign.knn_search(x, b[:, :8], 5),
        lambda: repalign.sweep(x, b, "mutual_knn", k=5),
        lambda: repalign.calibrate(x, b, permutations=5),
        lambda: AlignmentMetrics.measure("mutual_knn", x, b, topk=5),
        lambda: repalign.mutual_knn(torch.from_numpy(x), b, 5),
        lambda: repalign.mutual_knn(x.astype(np.float16), b, 5),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=msg):
            call()


def test_non_finite_in_a_layer_of_a_stack(ab):
    a, b = ab
    la = np.stack([a, a * 2], axis=1)
    la[4, 1, 6] = np.nan
    with pytest.raises(ValueError, match="row 4, column 6"):
        repalign.sweep(la, b, "cka")
    with pytest.raises(ValueError, match="row 4"):
        repalign.prepare(la, "paper")


@pytest.mark.parametrize("metric", ["mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn"])
def test_k_out_of_range(ab, metric):
    a, b = ab
    with pytest.raises(ValueError, match=r"k = 0 is too small: it must be at least 1"):
        repalign.score(a, b, metric, k=0)
    for k in (40, 41, 1000):
        with pytest.raises(ValueError, match=rf"k = {k} is out of range: it must be in 1\.\.=39"):
            repalign.score(a, b, metric, k=k)
    assert 0 <= repalign.score(a, b, metric, k=39) <= 39
    with pytest.raises((ValueError, OverflowError, TypeError)):
        repalign.score(a, b, metric, k=-1)


def test_knn_graph_and_search_k(ab):
    a, b = ab
    with pytest.raises(ValueError, match="1..=39"):
        repalign.knn_graph(a, 40)
    with pytest.raises(ValueError):
        repalign.knn_graph(a, 0)
    with pytest.raises(ValueError):
        repalign.knn_search(a[:3], a, 41)
    with pytest.raises(ValueError):
        repalign.knn_search(a[:3], b, 2)  # 8 vs 12 features


def test_cknna_k(ab):
    a, b = ab
    with pytest.raises(ValueError, match="at least 2"):
        repalign.cknna(a, b, 1)
    with pytest.raises(ValueError):
        repalign.cknna(a, b, 41)
    with pytest.raises(ValueError, match="CKNNA requires topk >= 2"):
        AlignmentMetrics.cknna(a, b, topk=1)
    with pytest.raises(TypeError):
        AlignmentMetrics.cknna(a, b)
    with pytest.raises(NotImplementedError):
        AlignmentMetrics.cknna(a, b, topk=3, distance_agnostic=True)


def test_row_count_mismatch(ab):
    a, b = ab
    with pytest.raises(ValueError, match="40 rows vs 39 rows"):
        repalign.cka(a, b[:39])
    with pytest.raises(ValueError, match="rows"):
        repalign.mutual_knn(a[1:], b, 5)
    with pytest.raises(ValueError):
        repalign.sweep(np.stack([a, a], 1), np.stack([b[:30], b[:30]], 1))
    with pytest.raises(ValueError):
        repalign.score_graphs(repalign.knn_graph(a, 3), repalign.knn_graph(b[:30], 3))


def test_unknown_metric_lists_the_valid_names(ab):
    a, b = ab
    with pytest.raises(ValueError, match="unknown metric 'bogus'") as e:
        repalign.score(a, b, "bogus")
    for name in repalign.METRICS:
        assert name in str(e.value)
    with pytest.raises(ValueError, match="bogus"):
        repalign.sweep(a, b, "bogus")
    with pytest.raises(ValueError, match="Unrecognized metric"):
        AlignmentMetrics.measure("bogus", a, b)
    with pytest.raises(ValueError):
        compute_score(np.stack([a], 1), np.stack([b], 1), "bogus")
    with pytest.raises(TypeError, match="metric must be a name"):
        repalign.score(a, b, 3)


def test_parameters_that_do_not_apply(ab):
    a, b = ab
    cases = [
        ("cka", {"k": 3}, "k applies to the kNN metrics and cknna, not to cka"),
        ("mutual_knn", {"kernel": "rbf"}, "kernel"),
        ("mutual_knn", {"cca_dim": 3}, "cca_dim"),
        ("svcca", {"k": 3}, "k"),
        ("cknna", {"kernel": "rbf"}, "kernel"),
        ("cka", {"cosine": True}, "cosine"),
        ("mutual_knn", {"sigma": 2.0}, "sigma"),
        ("unbiased_cka", {"cca_dim": 4}, "cca_dim"),
    ]
    for metric, kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            repalign.score(a, b, metric, **kw)
    with pytest.raises(ValueError):
        repalign.sweep(a, b, "cka", k=3)


def test_unknown_kernel(ab):
    a, b = ab
    with pytest.raises(ValueError, match="unknown kernel 'poly'"):
        repalign.cka(a, b, kernel="poly")
    with pytest.raises(ValueError, match="Invalid kernel metric"):
        AlignmentMetrics.cka(a, b, kernel_metric="poly")
    with pytest.raises(ValueError):
        repalign.cka(a, b, kernel="rbf", sigma=0.0)
    with pytest.raises(ValueError):
        repalign.cka(a, b, kernel="rbf", sigma=-1.0)


def test_calibrate_parameters(ab):
    a, b = ab
    with pytest.raises(ValueError, match="permutations must be at least 1"):
        repalign.calibrate(a, b, permutations=0)
    with pytest.raises(ValueError, match="permutations"):
        repalign.calibrate_graphs(repalign.knn_graph(a, 3), repalign.knn_graph(b, 3), permutations=0)
    with pytest.raises(ValueError):
        repalign.calibrate(a, b, alpha=1.5, permutations=10)
    with pytest.raises((ValueError, OverflowError)):
        repalign.calibrate(a, b, permutations=-1)


def test_score_graphs_bad_indices(ab):
    a, b = ab
    ga, gb = repalign.knn_graph(a, 3), repalign.knn_graph(b, 3)
    bad = ga.indices.astype(np.int64)
    bad[5, 1] = 40
    with pytest.raises(ValueError, match="row 5 holds index 40, which is out of range or repeated"):
        repalign.score_graphs(bad, gb)
    neg = ga.indices.astype(np.int64)
    neg[0, 0] = -2
    with pytest.raises(ValueError, match="row 0 holds -2, which is not a row index"):
        repalign.score_graphs(neg, gb)
    rep = ga.indices.astype(np.int64)
    rep[3, 1] = rep[3, 0]
    with pytest.raises(ValueError, match="row 3"):
        repalign.score_graphs(rep, gb)
    with pytest.raises(ValueError, match="'cka' is not a kNN metric"):
        repalign.score_graphs(ga, gb, "cka")
    with pytest.raises(ValueError):
        repalign.score_graphs(ga, gb, "mutual_knn", 4)  # wider than the lists
    with pytest.raises(TypeError, match="integers"):
        repalign.score_graphs(ga.indices.astype(np.float32), gb)
    with pytest.raises(ValueError):
        repalign.score_graphs(ga.indices[:, 0], gb)
    with pytest.raises(ValueError):
        repalign.calibrate_graphs(bad, gb, permutations=5)


def test_merge_bad_parts(ab):
    a, _ = ab
    s1 = repalign.knn_search(a[:5], a[:20], 3)
    s2 = repalign.knn_search(a[:5], a[20:], 3, offset=20)
    with pytest.raises(ValueError):
        repalign.merge([s1, s2], 7)  # more than the parts hold
    with pytest.raises(ValueError):
        repalign.merge([s1, repalign.knn_search(a[:4], a[20:], 3, offset=20)], 3)  # other queries
    with pytest.raises(ValueError):
        repalign.merge([], 3)


def test_small_inputs(ab):
    a, b = ab
    with pytest.raises(ValueError, match="3 samples are too few for this estimator: it needs at least 4"):
        repalign.unbiased_cka(a[:3], b[:3])
    with pytest.raises(ValueError, match="cca_dim must be in 1..=min"):
        repalign.svcca(a, b, 9)  # D_A = 8
    with pytest.raises(ValueError):
        repalign.svcca(a, b, 0)
    with pytest.raises(ValueError):
        repalign.mutual_knn(a[:1], b[:1], 1)
    with pytest.raises(ValueError):
        repalign.cka(a[:, :0], b[:, :0])


def test_prepare_and_threshold_parameters(ab):
    a, _ = ab
    with pytest.raises(ValueError, match="bogus"):
        repalign.prepare(a, "bogus")
    for q in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            repalign.threshold(a, q)
        with pytest.raises(ValueError):
            repalign.prepare(a, "paper", q)
    with pytest.raises(ValueError):
        repalign.sweep([], [a])


def test_counts_are_checked_before_the_native_call():
    """A negative or non-integer count is a ValueError/TypeError naming the argument (not
    PyO3's OverflowError), in every function that takes one."""
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    calls = [
        lambda: repalign.mutual_knn(x, x, k=-1),
        lambda: repalign.knn_graph(x, 3, threads=-1),
        lambda: repalign.prepare(x, "paper", threads=-1),
        lambda: repalign.threshold(x, threads=-1),
        lambda: repalign.calibrate(x, x, permutations=-5),
        lambda: repalign.score_graphs(repalign.knn_graph(x, 3), repalign.knn_graph(x, 3), k=-2),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=">= 0"):
            call()
    with pytest.raises(TypeError, match="integer"):
        repalign.svcca(x, x, cca_dim=2.5)
