"""repalign.ray.zoo on a local cluster equals repalign.zoo bit for bit; a bad model fails
the call naming it; layer states read back refuse another metric's bytes."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import repalign  # noqa: E402
import repalign.ray  # noqa: E402
from repalign import _repalign  # noqa: E402

N = 80


@pytest.fixture(scope="module", autouse=True)
def cluster(ray_cluster):
    yield


pytestmark = pytest.mark.usefixtures("no_ray_cancel")


def model(seed: int, layers: int, d: int) -> np.ndarray:
    signal = np.random.default_rng(7).standard_normal((N, d))
    return (signal[:, None, :] + np.random.default_rng(seed).standard_normal((N, layers, d))).astype(np.float32)


def same(got: repalign.ZooResult, want: repalign.ZooResult) -> None:
    assert (got.names, got.rows, got.cols) == (want.names, want.rows, want.cols)
    np.testing.assert_array_equal(got.matrix, want.matrix)
    for g, w in zip(got.pairs, want.pairs):
        assert (g.a, g.b, g.q_value, g.holm) == (w.a, w.b, w.q_value, w.holm)
        np.testing.assert_array_equal(g.sweep.scores, w.sweep.scores)
        assert (g.sweep.best, g.sweep.best_index) == (w.sweep.best, w.sweep.best_index)
        if w.calibration is not None:
            np.testing.assert_array_equal(g.calibration.null, w.calibration.null)
            assert g.calibration.p_value == w.calibration.p_value


def test_the_cluster_zoo_is_the_zoo(tmp_path):
    models = {"vit": model(1, 3, 8), "dino": model(2, 2, 12), "clip": model(3, 1, 6)}
    # A model given as a path and one as an object reference.
    path = tmp_path / "mae.npy"
    np.save(path, model(4, 2, 8))
    ref = ray.put(models["dino"])
    for metric, kw in (("mutual_knn", {"k": 5}), ("cka", {}), ("procrustes", {})):
        want = repalign.zoo({**models, "mae": np.load(path)}, metric, permutations=40, seed=3, prepare="paper", **kw)
        got = repalign.ray.zoo(
            {"vit": models["vit"], "dino": ref, "clip": models["clip"], "mae": str(path)},
            metric,
            permutations=40,
            seed=3,
            prepare="paper",
            **kw,
        )
        same(got, want)
    want = repalign.zoo([models["vit"]], group_b=[models["dino"], models["clip"]], k=5)
    same(repalign.ray.zoo([models["vit"]], group_b=[models["dino"], models["clip"]], k=5), want)


def test_bad_models_fail_naming_the_model():
    good = model(1, 2, 8)
    bad = good.copy()
    bad[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match="model 'bad'.*row 3"):
        repalign.ray.zoo({"good": good, "bad": bad}, k=5)
    with pytest.raises(ValueError, match="different samples"):
        repalign.ray.zoo({"good": good, "short": good[:-1]}, k=5)
    with pytest.raises(ValueError, match="model 'good'"):
        repalign.ray.zoo({"good": good, "other": good}, k=N)
    with pytest.raises(ValueError, match="share a name"):
        repalign.ray.zoo({"a": good}, group_b={"a": good})


def test_states_are_checked_when_read_back():
    x = model(1, 1, 8)[:, 0, :]
    spec_knn = repalign._spec("mutual_knn", 5, None, None, None, None, None)
    spec_cka = repalign._spec("cka", None, None, None, None, None, None)
    state = _repalign.layer_state(x, spec_knn, 1, None)
    sweep, cal = _repalign.zoo_pair([state], [state], spec_knn, None, 1, None)
    assert sweep[1] == 1.0 and cal is None
    with pytest.raises(ValueError, match="another metric"):
        _repalign.zoo_pair([state], [state], spec_cka, None, 1, None)
    with pytest.raises(ValueError, match="malformed"):
        _repalign.zoo_pair([state[:-5]], [state], spec_knn, None, 1, None)
