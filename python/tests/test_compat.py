"""repalign.compat beyond the golden values: the reference's calling conventions (lists of
layers, normalize=False, return types, q = 1) and the documented differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import repalign
from repalign.compat import AlignmentMetrics, compute_score, prepare_features, remove_outliers

from conftest import correlated


@pytest.fixture(scope="module")
def stacks():
    a, b = correlated(80, 16, 20, 0.5, seed=21)
    rng = np.random.default_rng(21)
    x = np.stack([a, a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), 3 * a], axis=1)
    y = np.stack([b, -b + 0.1], axis=1)
    return x, y


def test_supported_metrics_are_the_references():
    assert AlignmentMetrics.SUPPORTED_METRICS == [
        "cycle_knn", "mutual_knn", "lcs_knn", "cka", "unbiased_cka", "cknna", "svcca", "edit_distance_knn",
    ]
    with pytest.raises(ValueError, match="Unrecognized metric"):
        AlignmentMetrics.measure("jaccard_knn", np.eye(3), np.eye(3), topk=1)


def test_return_types_are_floats(stacks):
    x, y = stacks
    a, b = x[:, 0], y[:, 0]
    for name in ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn"):
        v = AlignmentMetrics.measure(name, torch.from_numpy(a), torch.from_numpy(b), topk=5)
        assert type(v) is float and v == repalign.score(a, b, name, k=5)
    assert type(AlignmentMetrics.cka(a, b)) is float
    assert AlignmentMetrics.cka(a, b, kernel_metric="rbf", rbf_sigma=2.0) == repalign.cka(a, b, kernel="rbf", sigma=2.0)
    assert AlignmentMetrics.unbiased_cka(a, b, kernel_metric="rbf", rbf_sigma=2.0) == repalign.unbiased_cka(
        a, b, kernel="rbf", sigma=2.0
    )
    assert AlignmentMetrics.measure("unbiased_cka", a, b) == repalign.unbiased_cka(a, b)
    assert AlignmentMetrics.cknna(a, b, topk=5, unbiased=False) == repalign.cknna(a, b, 5, unbiased=False)
    assert AlignmentMetrics.svcca(a, b, cca_dim=4) == repalign.svcca(a, b, 4)


def test_prepare_features_types_and_values(stacks):
    x, _ = stacks
    for exact, mode in ((True, "clamp"), (False, "clamp-per-sample")):
        p = prepare_features(x, exact=exact)
        assert isinstance(p, np.ndarray) and p.dtype == np.float32
        np.testing.assert_array_equal(p, repalign.prepare(x, mode))
        t = prepare_features(torch.from_numpy(x).half(), exact=exact)
        assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.device.type == "cpu"
        np.testing.assert_array_equal(t.numpy(), repalign.prepare(x.astype(np.float16), mode))
        # A list is prepared element by element.
        lst = prepare_features([x[:, 0], x[:, 2]], exact=exact)
        assert isinstance(lst, list) and len(lst) == 2
        np.testing.assert_array_equal(lst[1], repalign.prepare(x[:, 2], mode))
    assert prepare_features(x, exact=True).shape == x.shape


def test_remove_outliers(stacks):
    x, _ = stacks
    t = torch.from_numpy(x)
    assert remove_outliers(t, 1) is t  # q = 1: the input itself, as the reference
    r = remove_outliers(t, 0.9, exact=True)
    thr = np.float32(repalign.threshold(x, 0.9))
    np.testing.assert_array_equal(r.numpy(), np.clip(x, -thr, thr))
    r2 = remove_outliers(x, 0.9)
    thr2 = np.float32(repalign.threshold(x, 0.9, per_sample=True))
    np.testing.assert_array_equal(r2, np.clip(x, -thr2, thr2))


def test_compute_score_conventions(stacks):
    x, y = stacks
    for metric in ("mutual_knn", "cycle_knn", "lcs_knn", "cknna", "cka", "unbiased_cka"):
        best, idx = compute_score(x, y, metric, topk=7)
        k = 7 if "knn" in metric else None
        s = repalign.sweep(x, y, metric, prepare="normalize", k=k)
        assert (best, idx) == (s.best, s.best_index), metric
        # By hand: the first maximum in row-major order over normalised layer pairs.
        scores = np.array([[repalign.score(repalign.prepare(x[:, i], "normalize"), repalign.prepare(y[:, j], "normalize"),
                                           metric, k=k) for j in range(2)] for i in range(3)])
        np.testing.assert_array_equal(scores, s.scores)
        flat = int(np.argmax(scores))
        assert idx == divmod(flat, 2) and best == scores.max()
        # A list of layers for x, as the reference allows, and torch tensors.
        assert compute_score([x[:, i] for i in range(3)], torch.from_numpy(y), metric, topk=7) == (best, idx)
    # normalize=False: raw features.
    best, idx = compute_score(x, y, "cka", normalize=False)
    s = repalign.sweep(x, y, "cka")
    assert (best, idx) == (s.best, s.best_index)
    # The scaled copy (layer 2 = 3 x layer 0) is the same layer once normalised.
    s = repalign.sweep(x, y, "mutual_knn", prepare="normalize", k=7)
    np.testing.assert_array_equal(s.scores[0], s.scores[2])
