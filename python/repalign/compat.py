"""A drop-in for the paper's code (minyoungg/platonic-rep): ``metrics.AlignmentMetrics`` and
``measure_alignment.prepare_features`` / ``compute_score``, with the same names, argument
names and defaults, on numpy arrays or torch tensors::

    from repalign.compat import AlignmentMetrics, prepare_features, compute_score
    AlignmentMetrics.measure("mutual_knn", feats_A, feats_B, topk=10)
    best, (i, j) = compute_score(prepare_features(x), prepare_features(y), "mutual_knn", 10)

On tie-free data the numbers are the reference's (tests/test_golden.py checks every golden
case). Intended differences, each because the reference returns a wrong or undefined
number silently:

* Errors instead of numbers: NaN or infinite features (ValueError naming the row and
  column; the reference returns NaN or a meaningless score), k outside 1..N-1 (the reference
  silently caps or fails deep inside torch), D = 0, N too small for the estimator.
* Ties between neighbours are broken by lower row index, the same on every CPU and thread
  count (the reference's order depends on torch's sort).
* ``lcs_knn`` and ``edit_distance_knn`` return floats (the reference returns 0-d tensors).
* ``svcca`` is the exact, deterministic SVCCA (the reference adds random noise and uses a
  randomised SVD; its values scatter around ours by the golden data's recorded noise).
* ``cknna(..., topk=None)`` raises TypeError (as the reference does); ``distance_agnostic=True``
  raises NotImplementedError. ``compute_score`` passes ``topk`` to every metric whose name
  contains "knn" (the kNN metrics and cknna), as the reference does.
* ``prepare_features`` returns CPU float32 (a torch tensor for a tensor input, else a numpy
  array); the reference moves it to CUDA.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np

from . import prepare as _prepare
from . import score as _score
from . import sweep as _sweep

__all__ = ["AlignmentMetrics", "prepare_features", "compute_score", "remove_outliers"]


def _knn(metric: str, feats_A: Any, feats_B: Any, topk: int) -> float:
    return _score(feats_A, feats_B, metric, k=topk)


class AlignmentMetrics:
    """The paper's ``metrics.AlignmentMetrics``: static methods by metric name."""

    SUPPORTED_METRICS = [
        "cycle_knn",
        "mutual_knn",
        "lcs_knn",
        "cka",
        "unbiased_cka",
        "cknna",
        "svcca",
        "edit_distance_knn",
    ]

    @staticmethod
    def measure(metric: str, *args: Any, **kwargs: Any) -> float:
        """``metric`` is a string for the function."""
        if metric not in AlignmentMetrics.SUPPORTED_METRICS:
            raise ValueError(f"Unrecognized metric: {metric}")
        return getattr(AlignmentMetrics, metric)(*args, **kwargs)

    @staticmethod
    def cycle_knn(feats_A: Any, feats_B: Any, topk: int) -> float:
        return _knn("cycle_knn", feats_A, feats_B, topk)

    @staticmethod
    def mutual_knn(feats_A: Any, feats_B: Any, topk: int) -> float:
        return _knn("mutual_knn", feats_A, feats_B, topk)

    @staticmethod
    def lcs_knn(feats_A: Any, feats_B: Any, topk: int) -> float:
        return _knn("lcs_knn", feats_A, feats_B, topk)

    @staticmethod
    def edit_distance_knn(feats_A: Any, feats_B: Any, topk: int) -> float:
        return _knn("edit_distance_knn", feats_A, feats_B, topk)

    @staticmethod
    def cka(feats_A: Any, feats_B: Any, kernel_metric: str = "ip", rbf_sigma: float = 1.0, unbiased: bool = False) -> float:
        if kernel_metric not in ("ip", "rbf"):
            raise ValueError(f"Invalid kernel metric {kernel_metric}")
        sigma = rbf_sigma if kernel_metric == "rbf" else None
        return _score(feats_A, feats_B, "cka", kernel=kernel_metric, sigma=sigma, unbiased=unbiased)

    @staticmethod
    def unbiased_cka(*args: Any, **kwargs: Any) -> float:
        kwargs["unbiased"] = True
        return AlignmentMetrics.cka(*args, **kwargs)

    @staticmethod
    def svcca(feats_A: Any, feats_B: Any, cca_dim: int = 10) -> float:
        return _score(feats_A, feats_B, "svcca", cca_dim=cca_dim)

    @staticmethod
    def cknna(
        feats_A: Any, feats_B: Any, topk: Optional[int] = None, distance_agnostic: bool = False, unbiased: bool = True
    ) -> float:
        if topk is None:
            raise TypeError("cknna needs topk (the reference fails on topk=None as well)")
        if distance_agnostic:
            raise NotImplementedError("cknna(distance_agnostic=True) is not implemented by repalign")
        if topk < 2:
            raise ValueError("CKNNA requires topk >= 2")
        return _score(feats_A, feats_B, "cknna", k=topk, unbiased=unbiased)


def _like(result: np.ndarray, template: Any) -> Any:
    """``result`` as a torch tensor when ``template`` is one (shares memory), else numpy."""
    if type(template).__module__.startswith("torch") and "torch" in sys.modules:
        return sys.modules["torch"].from_numpy(result)
    return result


def remove_outliers(feats: Any, q: float, exact: bool = False, max_threshold: Any = None) -> Any:
    """The paper's ``metrics.remove_outliers``: clamp |feats| at the exact ``q``-quantile of
    the whole tensor (``exact``) or at the mean of per-sample quantiles."""
    if q == 1:
        return feats
    out = _prepare(feats, "clamp" if exact else "clamp-per-sample", q)
    return _like(out, feats)


def prepare_features(feats: Any, q: float = 0.95, exact: bool = False) -> Any:
    """The paper's ``prepare_features``: float32, outliers clamped (no normalisation: that is
    ``compute_score``'s). A list of tensors is prepared element by element."""
    if isinstance(feats, list):
        return [prepare_features(f, q, exact) for f in feats]
    # q = 1 clamps nothing (both modes), as in the reference; the copy is still float32.
    return _like(_prepare(feats, "clamp" if exact else "clamp-per-sample", q), feats)


def compute_score(x_feats: Any, y_feats: Any, metric: str = "mutual_knn", topk: int = 10, normalize: bool = True):
    """The paper's ``compute_score``: every layer pair of two N x L x D feature sets (or
    lists of N x D layers), rows L2-normalised when ``normalize``; returns
    ``(best_score, (i, j))``, or ``(0, None)`` when no pair scores above 0."""
    k = topk if "knn" in metric else None
    result = _sweep(x_feats, y_feats, metric, prepare="normalize" if normalize else "none", k=k)
    if result.best_index is None:
        return 0, None
    return result.best, result.best_index
