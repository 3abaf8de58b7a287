"""repalign.zoo: every pair equals its own sweep and calibration, groups split the models,
the cache gives the same results and computes nothing the second time, the map and the
performance relation match their definitions, and bad zoos are errors."""

from __future__ import annotations

import numpy as np
import pytest

import repalign

N = 60


def model(seed: int, layers: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = np.random.default_rng(99).standard_normal((N, d))
    return (signal[:, None, :] + 0.8 * rng.standard_normal((N, layers, d))).astype(np.float32)


@pytest.fixture(scope="module")
def models() -> dict:
    return {"vit": model(1, 3, 8), "dino": model(2, 2, 12), "clip": model(3, 1, 6), "mae": model(4, 2, 8)}


def test_pairs_are_their_own_sweeps_and_calibrations(models):
    r = repalign.zoo(models, "mutual_knn", k=5, permutations=50, seed=2, prepare="paper")
    assert isinstance(r, repalign.ZooResult)
    assert r.names == r.rows == r.cols == ["vit", "dino", "clip", "mae"]
    assert r.matrix.shape == (4, 4) and np.isnan(np.diag(r.matrix)).all()
    assert [(p.a, p.b) for p in r.pairs] == [(a, b) for i, a in enumerate(r.names) for b in r.names[i + 1 :]]
    for p in r.pairs:
        want = repalign.calibrate(models[p.a], models[p.b], "mutual_knn", k=5, permutations=50, seed=2, prepare="paper")
        np.testing.assert_array_equal(p.sweep.scores, want.sweep.scores)
        assert (p.sweep.best, p.sweep.best_index) == (want.sweep.best, want.sweep.best_index)
        assert p.calibration is not None and p.calibration.p_value == want.p_value
        np.testing.assert_array_equal(p.calibration.null, want.null)
        assert p.q_value is not None and p.holm is not None and p.holm >= p.q_value >= p.calibration.p_value
        i, j = r.names.index(p.a), r.names.index(p.b)
        assert r.matrix[i, j] == r.matrix[j, i] == p.sweep.best
    # Benjamini-Hochberg, directly.
    pv = np.array([p.calibration.p_value for p in r.pairs])
    order = np.argsort(pv, kind="stable")
    m = len(pv)
    q = np.minimum.accumulate((m * pv[order] / np.arange(1, m + 1))[::-1])[::-1].clip(max=1)
    np.testing.assert_allclose([r.pairs[i].q_value for i in order], q, rtol=1e-15)


def test_groups_and_lists(models):
    a = [models["vit"], models["dino"]]
    b = [models["clip"], models["mae"]]
    r = repalign.zoo(a, group_b=b, k=5)
    assert (r.rows, r.cols, r.matrix.shape) == (["0", "1"], ["2", "3"], (2, 2))
    assert all(p.calibration is None and p.q_value is None for p in r.pairs)
    assert r.matrix[1, 0] == repalign.sweep(models["dino"], models["clip"], k=5).best
    means = r.mean_alignment()
    assert means["0"] == pytest.approx(r.matrix[0].mean()) and means["3"] == pytest.approx(r.matrix[:, 1].mean())
    # A model given as a list of layers is the same model.
    layers = [models["vit"][:, i, :] for i in range(3)]
    r2 = repalign.zoo({"vit": layers, "dino": models["dino"]}, k=5)
    assert r2.pairs[0].sweep.best == repalign.sweep(models["vit"], models["dino"], k=5).best


def test_cache_gives_the_same_zoo_and_computes_nothing_twice(models, tmp_path):
    want = repalign.zoo(models, "cka")
    first = repalign.zoo(models, "cka", cache=tmp_path / "states")
    second = repalign.zoo(models, "cka", cache=str(tmp_path / "states"))
    assert first.cache is not None and second.cache is not None
    assert (first.cache["hits"], first.cache["computed"]) == (0, 8)
    assert (second.cache["hits"], second.cache["computed"], second.cache["rejected"]) == (8, 0, 0)
    for r in (first, second):
        np.testing.assert_array_equal(r.matrix, want.matrix)
        for p, w in zip(r.pairs, want.pairs):
            np.testing.assert_array_equal(p.sweep.scores, w.sweep.scores)
    # A damaged entry is recomputed.
    entry = sorted((tmp_path / "states").iterdir())[0]
    entry.write_bytes(entry.read_bytes()[:-7])
    third = repalign.zoo(models, "cka", cache=tmp_path / "states")
    assert (third.cache["hits"], third.cache["computed"], third.cache["rejected"]) == (7, 1, 1)
    np.testing.assert_array_equal(third.matrix, want.matrix)
    with pytest.raises(OSError, match="cache"):
        (tmp_path / "file").write_text("x")
        repalign.zoo(models, cache=tmp_path / "file")


def test_map_and_performance(models):
    r = repalign.zoo(models, k=5)
    m = r.map()
    assert isinstance(m, repalign.ModelMap) and m.names == r.names
    # Distances in the plane approximate -ln(score) when few eigenvalues are negative.
    assert np.isfinite(m.x).all() and np.isfinite(m.y).all()
    assert m.eigenvalues[0] >= m.eigenvalues[-1] and 0.0 <= m.negative_share < 1.0
    scores = {"vit": 0.8, "dino": 0.7, "clip": 0.9, "mae": 0.6}
    rho, p = r.performance(scores)
    mean = r.mean_alignment()
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731 (no ties here)
    x, y = ranks([mean[n] for n in scores]), ranks(list(scores.values()))
    assert rho == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert 0 < p <= 1
    with pytest.raises(ValueError, match="not models of this zoo: vitt"):
        r.performance({"vitt": 1.0, "dino": 2.0, "clip": 3.0})
    with pytest.raises(ValueError):
        repalign.zoo([models["vit"]], group_b=[models["dino"]], k=5).map()


def test_progress_and_errors(models):
    seen = []
    repalign.zoo(models, k=5, permutations=20, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert ("pairs", 6, 6) in seen
    assert all(total == 8 for stage, _, total in seen if stage == "layers")
    with pytest.raises(ValueError, match="share a name"):
        repalign.zoo({"a": models["vit"]}, group_b={"a": models["dino"]})
    with pytest.raises(ValueError):
        repalign.zoo({"a": models["vit"]})
    with pytest.raises(ValueError):
        repalign.zoo({"a": models["vit"], "b": models["dino"][:-1]})
