"""Independent float64 numpy definitions of the metrics (the paper's, as described in
../shared/golden/README.md), for small inputs."""

from __future__ import annotations

import numpy as np


def knn(x: np.ndarray, k: int) -> np.ndarray:
    """Row i: the k other rows with the largest inner product, descending (ties by lower
    index, which tie-free test data never needs)."""
    x = np.asarray(x, dtype=np.float64)
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    return np.argsort(-g, axis=1, kind="stable")[:, :k]


def search(q: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(q, dtype=np.float64) @ np.asarray(x, dtype=np.float64).T
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(s, idx, axis=1)


def min_gap(x: np.ndarray, k: int, diagonal: bool = False) -> float:
    """The smallest difference between consecutive values among each row's k + 1 largest
    similarities (self excluded): how far the data is from a tie that matters."""
    x = np.asarray(x, dtype=np.float64)
    g = x @ x.T
    if not diagonal:
        np.fill_diagonal(g, -np.inf)
    top = -np.sort(-g, axis=1)[:, : k + 1]
    return float(np.min(-np.diff(top, axis=1)))


def mutual_knn(a, b, k):
    na, nb = knn(a, k), knn(b, k)
    return float(np.mean([len(set(na[i]) & set(nb[i])) / k for i in range(len(na))]))


def cycle_knn(a, b, k):
    na, nb = knn(a, k), knn(b, k)
    return float(np.mean([any(i in na[j] for j in nb[i]) for i in range(len(na))]))


def jaccard_knn(a, b, k):
    na, nb = knn(a, k), knn(b, k)
    return float(np.mean([len(set(na[i]) & set(nb[i])) / len(set(na[i]) | set(nb[i])) for i in range(len(na))]))


def _lcs(s, t):
    d = np.zeros((len(s) + 1, len(t) + 1), dtype=int)
    for i in range(len(s)):
        for j in range(len(t)):
            d[i + 1, j + 1] = d[i, j] + 1 if s[i] == t[j] else max(d[i, j + 1], d[i + 1, j])
    return d[-1, -1]


def _lev(s, t):
    d = np.zeros((len(s) + 1, len(t) + 1), dtype=int)
    d[:, 0] = range(len(s) + 1)
    d[0, :] = range(len(t) + 1)
    for i in range(len(s)):
        for j in range(len(t)):
            d[i + 1, j + 1] = min(d[i, j + 1] + 1, d[i + 1, j] + 1, d[i, j] + (s[i] != t[j]))
    return d[-1, -1]


def lcs_knn(a, b, k):
    """The paper's: the mean LCS length, not divided by k."""
    na, nb = knn(a, k), knn(b, k)
    return float(np.mean([_lcs(list(na[i]), list(nb[i])) for i in range(len(na))]))


def edit_distance_knn(a, b, k):
    na, nb = knn(a, k), knn(b, k)
    return float(1 - np.mean([_lev(list(na[i]), list(nb[i])) for i in range(len(na))]) / k)


KNN = {
    "mutual_knn": mutual_knn,
    "cycle_knn": cycle_knn,
    "jaccard_knn": jaccard_knn,
    "lcs_knn": lcs_knn,
    "edit_distance_knn": edit_distance_knn,
}


def _hsic(k, l):
    n = len(k)
    h = np.eye(n) - 1.0 / n
    return float(np.trace(k @ h @ l @ h))


def _hsic_unbiased(k, l):
    m = len(k)
    k, l = k.copy(), l.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(m)
    t = np.sum(k * l.T) + k.sum() * l.sum() / ((m - 1) * (m - 2)) - 2 / (m - 2) * one @ k @ l @ one
    return float(t / (m * (m - 3)))


def _kernel(x, kernel, sigma):
    x = np.asarray(x, dtype=np.float64)
    if kernel == "rbf":
        sq = (x * x).sum(1)
        d = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
        return np.exp(-d / (2 * sigma**2))
    return x @ x.T


def cka(a, b, kernel="linear", sigma=1.0, unbiased=False):
    k, l = _kernel(a, kernel, sigma), _kernel(b, kernel, sigma)
    h = _hsic_unbiased if unbiased else _hsic
    return h(k, l) / (np.sqrt(h(k, k) * h(l, l)) + 1e-6)


def svcca(a, b, cca_dim=10):
    def top(x):
        x = np.asarray(x, dtype=np.float64)
        x = (x - x.mean(0)) / (x.std(0, ddof=1) + 1e-8)
        return np.linalg.svd(x, full_matrices=False)[0][:, :cca_dim]

    return float(np.linalg.svd(top(a).T @ top(b), compute_uv=False).mean())


def normalize(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def threshold(x, q, per_sample=False):
    ax = np.abs(np.asarray(x, dtype=np.float64))
    if per_sample:
        return float(np.mean([np.quantile(r.ravel(), q) for r in ax]))
    return float(np.sort(ax, axis=None)[int(q * ax.size)])
