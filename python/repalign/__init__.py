"""repalign: exact, SIMD-fast representation alignment.

The metrics of *The Platonic Representation Hypothesis* (Huh et al., ICML 2024) — mutual,
cycle, LCS, edit-distance and Jaccard kNN, CKA (linear, RBF, unbiased), CKNNA, SVCCA — the
paper's layer sweep and preparation, and permutation calibration, computed by repalign's
Rust core. Inputs are numpy arrays or torch CPU tensors (float32, float16, bfloat16), read
without a copy; see ``repalign._inputs`` for what is copied. Every call releases the GIL
and stops at Ctrl-C. Results are identical for every ``threads=`` and ``isa=``.

``repalign.compat`` is a drop-in for the paper's ``AlignmentMetrics``, ``prepare_features``
and ``compute_score``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from . import _repalign
from ._inputs import as_array, as_indices, as_layers, dense
from ._progress import progress_callback

__all__ = [
    "METRICS",
    "PREPARE_MODES",
    "ISAS",
    "KnnGraph",
    "SweepResult",
    "Calibration",
    "available_isas",
    "release_memory",
    "knn_graph",
    "knn_search",
    "knn_search_both",
    "merge",
    "score",
    "score_graphs",
    "mutual_knn",
    "cycle_knn",
    "lcs_knn",
    "edit_distance_knn",
    "jaccard_knn",
    "cka",
    "unbiased_cka",
    "cknna",
    "svcca",
    "rsa",
    "procrustes",
    "cca",
    "pwcca",
    "rv_coefficient",
    "prepare",
    "threshold",
    "sweep",
    "calibrate",
    "calibrate_graphs",
    "ZooPair",
    "ZooResult",
    "ModelMap",
    "zoo",
]

__version__: str = _repalign.__version__
#: Metric names, as the paper's ``compute_score`` takes them.
METRICS: tuple[str, ...] = tuple(_repalign.METRICS)
#: Preparation modes of :func:`prepare` and :func:`sweep`.
PREPARE_MODES: tuple[str, ...] = tuple(_repalign.PREPARE_MODES)
#: Instruction-set names ``isa=`` accepts (plus ``"auto"``).
ISAS: tuple[str, ...] = tuple(_repalign.ISAS)

#: Anything :func:`score` and friends accept as features: a numpy array, a torch tensor, or
#: any object with ``__dlpack__`` or ``__array__``.
ArrayLike = Any
Progress = Union[bool, Callable[[str, int, int], None], None]


def available_isas() -> list[str]:
    """Instruction sets this CPU and build run, best (the default) first."""
    return list(_repalign.available_isas())


def release_memory() -> int:
    """Frees the buffers kNN calls keep for the next call (the threads' packed blocks, up to
    64 MiB in all, and the bf16 prefilter's score matrix, up to 64 MiB); returns the bytes
    freed. Later calls allocate anew."""
    return int(_repalign.release_memory())


@dataclass(frozen=True)
class KnnGraph:
    """Neighbour lists: row i's ``k`` neighbours, most similar first (ties: lower index)."""

    #: N x k int32 row indices.
    indices: np.ndarray
    #: N x k float32 similarities (inner product, or cosine with ``cosine=True``).
    scores: np.ndarray
    #: The instruction set that ran (None for a merge of lists).
    isa: Optional[str] = None

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def __len__(self) -> int:
        return int(self.indices.shape[0])


@dataclass(frozen=True)
class SweepResult:
    """Every layer pair's score; the best is the paper's (first maximum in row-major order,
    0 and no pair when none is above 0)."""

    #: L_A x L_B float64 scores.
    scores: np.ndarray
    best: float
    #: (layer of A, layer of B), or None when no pair scores above 0.
    best_index: Optional[tuple[int, int]]
    #: The instruction set of the kNN/Gram kernels (None for SVCCA).
    isa: Optional[str] = None
    #: E.g. layers whose k-th neighbour ties with the next in many rows.
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Calibration:
    """A score against its permutation null (B's rows relabelled ``permutations`` times)."""

    raw: float
    null_mean: float
    null_median: float
    null_std: float
    #: (raw - null_mean) / null_std.
    z: float
    #: (#{null >= raw} + 1) / (P + 1).
    p_value: float
    #: The (1 - alpha) quantile of the null with the observed value included.
    tau: float
    #: 0 when raw <= tau, else (raw - tau) / (max - tau).
    calibrated: float
    #: The P null samples, float64.
    null: np.ndarray
    #: The sweep the raw score is the best of (1 x 1 for two N x D inputs); None from graphs.
    sweep: Optional[SweepResult] = None


@dataclass(frozen=True)
class ZooPair:
    """One model pair of a zoo: model ``a`` (rows of ``sweep.scores``) against ``b``."""

    a: str
    b: str
    sweep: SweepResult
    #: The best score against the null of the maximum over layer pairs (with ``permutations``).
    calibration: Optional[Calibration] = None
    #: Benjamini-Hochberg adjusted p-value across the zoo's pairs.
    q_value: Optional[float] = None
    #: Holm adjusted p-value across the zoo's pairs.
    holm: Optional[float] = None


@dataclass(frozen=True)
class ModelMap:
    """Models in 2-D: classical MDS of -ln(alignment / max). Negative eigenvalues (the
    distances are not Euclidean) are dropped; ``negative_share`` says how much they weigh."""

    names: list[str]
    x: np.ndarray
    y: np.ndarray
    eigenvalues: np.ndarray
    negative: int
    negative_share: float


@dataclass(frozen=True)
class ZooResult:
    """Every model pair of a zoo. ``matrix`` holds each pair's best score: M x M (NaN
    diagonal) for all pairs, or len(rows) x len(cols) for group A x group B."""

    names: list[str]
    rows: list[str]
    cols: list[str]
    matrix: np.ndarray
    pairs: list[ZooPair]
    #: What the cache did: hits, computed, rejected, unwritten, first_write_error.
    cache: Optional[dict] = None

    def mean_alignment(self) -> dict[str, float]:
        """Each model's mean best score against the models it was compared with."""
        m = self.matrix
        out = {r: float(np.nanmean(m[i])) for i, r in enumerate(self.rows)}
        if self.rows != self.cols:
            out.update({c: float(np.nanmean(m[:, j])) for j, c in enumerate(self.cols)})
        return out

    def map(self, max: float = 1.0) -> ModelMap:
        """The models in 2-D (all pairs only). ``max`` is the metric's largest value (k for
        ``lcs_knn``)."""
        x, y, ev, neg, share = _repalign.zoo_map(self.matrix.tolist(), float(max))
        return ModelMap(list(self.rows), np.asarray(x), np.asarray(y), ev, neg, share)

    def performance(
        self, scores: dict[str, float], *, permutations: int = 9999, seed: int = 0
    ) -> tuple[float, float]:
        """Spearman's rho between each listed model's mean alignment and its task score,
        and its permutation p-value (exact for up to 8 models)."""
        mean = self.mean_alignment()
        unknown = [name for name in scores if name not in mean]
        if unknown:
            raise ValueError(f"not models of this zoo: {', '.join(unknown)} (its models: {', '.join(self.names)})")
        names = list(scores)
        rho, p, _, _ = _repalign.rank_correlation(
            [mean[n] for n in names], [float(scores[n]) for n in names], _count("permutations", permutations), _count("seed", seed)
        )
        return rho, p


def _graph(t: tuple) -> KnnGraph:
    return KnnGraph(indices=t[0], scores=t[1], isa=t[2])


def _sweep(t: tuple) -> SweepResult:
    return SweepResult(scores=t[0], best=t[1], best_index=t[2], isa=t[3], warnings=list(t[4]))


def _calibration(t: tuple, sweep: Optional[SweepResult] = None) -> Calibration:
    raw, mean, median, std, z, p, tau, calibrated, null = t
    return Calibration(raw, mean, median, std, z, p, tau, calibrated, null, sweep=sweep)


def _count(name: str, value: Any) -> int:
    """A non-negative integer argument (Python or numpy int), or ValueError/TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _opt_count(name: str, value: Any) -> Optional[int]:
    return None if value is None else _count(name, value)


def _spec(metric: str, k, kernel, sigma, unbiased, cca_dim, cosine, rdm=None, corr=None) -> tuple:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a name (one of {', '.join(METRICS)}), got {type(metric).__name__}")
    k, cca_dim = _opt_count("k", k), _opt_count("cca_dim", cca_dim)
    return (metric, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr)


def knn_graph(
    x: ArrayLike, k: int, *, cosine: bool = False, threads: int = 0, isa: Optional[str] = None, progress: Progress = None
) -> KnnGraph:
    """The ``k`` nearest other rows of every row of ``x`` (N x D) by inner product (or cosine)."""
    x, k, threads = as_array(x, "x"), _count("k", k), _count("threads", threads)
    return _graph(_repalign.knn_graph(x, k, cosine, threads, isa, progress_callback(progress, "knn_graph")))


def knn_search(
    queries: ArrayLike,
    database: ArrayLike,
    k: int,
    *,
    cosine: bool = False,
    offset: int = 0,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> KnnGraph:
    """The ``k`` most similar ``database`` rows of every query row (nothing excluded).
    ``offset`` is added to the indices: the first row of this shard in the whole database,
    so that :func:`merge` can combine the shards' lists."""
    q, x = as_array(queries, "queries"), as_array(database, "database")
    k, offset, threads = _count("k", k), _count("offset", offset), _count("threads", threads)
    cb = progress_callback(progress, "knn_search")
    return _graph(_repalign.knn_search(q, x, k, cosine, offset, threads, isa, cb))


def knn_search_both(
    a: ArrayLike,
    b: ArrayLike,
    k: int,
    *,
    cosine: bool = False,
    offset_a: int = 0,
    offset_b: int = 0,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> tuple[KnnGraph, KnnGraph]:
    """:func:`knn_search` in both directions, each similarity computed once (half the work
    of two calls): the ``k`` most similar ``b`` rows of every ``a`` row, and the ``k`` most
    similar ``a`` rows of every ``b`` row, bit for bit ``(knn_search(a, b, k,
    offset=offset_b), knn_search(b, a, k, offset=offset_a))``. ``offset_a`` / ``offset_b``
    are the first rows of ``a`` / ``b`` in the whole data set (for :func:`merge`). ``k``
    must not exceed either side's rows; threads split ``a``'s rows (put the larger first)."""
    x, y = as_array(a, "a"), as_array(b, "b")
    k, threads = _count("k", k), _count("threads", threads)
    offset_a, offset_b = _count("offset_a", offset_a), _count("offset_b", offset_b)
    cb = progress_callback(progress, "knn_search_both")
    ab, ba = _repalign.knn_search_both(x, y, k, cosine, offset_a, offset_b, threads, isa, cb)
    return _graph(ab), _graph(ba)


def merge(parts: Sequence[Union[KnnGraph, tuple]], k: int) -> KnnGraph:
    """The ``k`` best of several neighbour lists of the same queries (e.g. shards of a
    database searched with :func:`knn_search` and their ``offset``): each part is a
    :class:`KnnGraph` or an ``(indices, scores)`` pair."""
    arrays = []
    for i, p in enumerate(parts):
        ind, sc = (p.indices, p.scores) if isinstance(p, KnnGraph) else p
        arrays.append((as_indices(ind, f"parts[{i}]"), np.ascontiguousarray(sc, dtype=np.float32)))
    return _graph(_repalign.merge(arrays, _count("k", k)))


def score(
    a: ArrayLike,
    b: ArrayLike,
    metric: str = "mutual_knn",
    *,
    k: Optional[int] = None,
    cosine: Optional[bool] = None,
    kernel: Optional[str] = None,
    sigma: Optional[float] = None,
    unbiased: Optional[bool] = None,
    cca_dim: Optional[int] = None,
    rdm: Optional[str] = None,
    corr: Optional[str] = None,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> float:
    """``metric`` of two representations of the same N samples (``a``: N x D_A, ``b``:
    N x D_B). Parameters left None take the metric's default (k = 10, linear kernel,
    sigma = 1, cca_dim = 10; unbiased for unbiased_cka and cknna; rsa's rdm "euclidean"
    or "cosine", corr "spearman" or "pearson"); a parameter the metric
    does not use raises ValueError rather than being ignored."""
    spec = _spec(metric, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr)
    a, b = as_array(a, "a"), as_array(b, "b")
    return _repalign.score(a, b, spec, _count("threads", threads), isa, progress_callback(progress, metric))


def _knn(name: str):
    def f(
        a: ArrayLike, b: ArrayLike, k: int = 10, *, cosine: bool = False, threads: int = 0, isa: Optional[str] = None
    ) -> float:
        return score(a, b, name, k=k, cosine=cosine, threads=threads, isa=isa)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``{name}`` with ``k`` neighbours per row (self excluded), by inner product or cosine."
    return f


mutual_knn = _knn("mutual_knn")
cycle_knn = _knn("cycle_knn")
lcs_knn = _knn("lcs_knn")
edit_distance_knn = _knn("edit_distance_knn")
jaccard_knn = _knn("jaccard_knn")


def cka(
    a: ArrayLike,
    b: ArrayLike,
    *,
    kernel: str = "linear",
    sigma: Optional[float] = None,
    unbiased: bool = False,
    threads: int = 0,
    isa: Optional[str] = None,
) -> float:
    """CKA with a linear (``"linear"`` or ``"ip"``) or RBF kernel (``sigma``, default 1)."""
    return score(a, b, "cka", kernel=kernel, sigma=sigma, unbiased=unbiased, threads=threads, isa=isa)


def unbiased_cka(
    a: ArrayLike,
    b: ArrayLike,
    *,
    kernel: str = "linear",
    sigma: Optional[float] = None,
    threads: int = 0,
    isa: Optional[str] = None,
) -> float:
    """CKA with the unbiased HSIC estimator (N >= 4)."""
    return score(a, b, "unbiased_cka", kernel=kernel, sigma=sigma, threads=threads, isa=isa)


def cknna(
    a: ArrayLike, b: ArrayLike, k: int = 10, *, unbiased: bool = True, threads: int = 0, isa: Optional[str] = None
) -> float:
    """CKNNA: CKA restricted to mutual k-nearest-neighbour pairs (2 <= k <= N)."""
    return score(a, b, "cknna", k=k, unbiased=unbiased, threads=threads, isa=isa)


def svcca(a: ArrayLike, b: ArrayLike, cca_dim: int = 10, *, threads: int = 0, isa: Optional[str] = None) -> float:
    """SVCCA with ``cca_dim`` directions, exact and deterministic."""
    return score(a, b, "svcca", cca_dim=cca_dim, threads=threads, isa=isa)


def rsa(
    a: ArrayLike,
    b: ArrayLike,
    *,
    rdm: str = "euclidean",
    corr: str = "spearman",
    threads: int = 0,
    isa: Optional[str] = None,
) -> float:
    """RSA: the correlation (Spearman, average ranks for ties, or Pearson) of the upper
    triangles of the two representational dissimilarity matrices (Euclidean or cosine
    distances), over all N(N-1)/2 pairs."""
    return score(a, b, "rsa", rdm=rdm, corr=corr, threads=threads, isa=isa)


def _plain(name: str, doc: str):
    def f(a: ArrayLike, b: ArrayLike, *, threads: int = 0, isa: Optional[str] = None) -> float:
        return score(a, b, name, threads=threads, isa=isa)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


procrustes = _plain(
    "procrustes",
    "1 - the orthogonal Procrustes residual of the column-centred features, over |b|; not symmetric.",
)
cca = _plain("cca", "Mean canonical correlation (ridge 1e-6) over min(D_A, D_B) directions.")
pwcca = _plain("pwcca", "Projection-weighted CCA (Morcos et al. 2018); not symmetric.")
rv_coefficient = _plain("rv_coefficient", "The RV coefficient of the column-centred features (linear CKA with a 1e-8 guard).")


def _graph_pair(a: Any, b: Any, k: Optional[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Two neighbour lists (KnnGraph or index arrays) as int64 arrays, and ``k`` (default:
    the narrower list's width)."""
    ia = as_indices(a.indices if isinstance(a, KnnGraph) else a, "a")
    ib = as_indices(b.indices if isinstance(b, KnnGraph) else b, "b")
    return ia, ib, min(ia.shape[1], ib.shape[1]) if k is None else _count("k", k)


def score_graphs(a: Union[KnnGraph, ArrayLike], b: Union[KnnGraph, ArrayLike], metric: str = "mutual_knn", k: Optional[int] = None) -> float:
    """A kNN metric from two neighbour lists (a :class:`KnnGraph` or an N x w index array
    each); ``k`` defaults to the narrower list's width."""
    ia, ib, k = _graph_pair(a, b, k)
    return _repalign.score_graphs(metric, ia, ib, k)


def prepare(
    x: ArrayLike, mode: str = "paper", q: float = 0.95, *, threads: int = 0, isa: Optional[str] = None
) -> np.ndarray:
    """Prepared float32 features, same shape as ``x`` (N x D or N x L x D). Modes:
    ``"paper"`` clamps |x| at its exact ``q``-quantile over the whole tensor, then
    L2-normalises each row of each layer; ``"paper-per-sample"`` uses the mean of per-sample
    quantiles (the paper script's default); ``"clamp"``/``"clamp-per-sample"`` clamp only
    (the paper's ``prepare_features``); ``"normalize"``; ``"none"``."""
    arr = as_array(x, "x", (2, 3))
    flat = arr.ndim == 2
    t = dense(arr[:, None, :] if flat else arr)
    out, _ = _repalign.prepare(t, mode, q, _count("threads", threads), isa)
    return out[:, 0, :] if flat else out


def threshold(x: ArrayLike, q: float = 0.95, *, per_sample: bool = False, threads: int = 0) -> float:
    """The clamp threshold of :func:`prepare` at quantile ``q``: exact over the whole
    tensor, or (``per_sample``) the mean of each sample's interpolated quantile."""
    arr = as_array(x, "x", (2, 3))
    t = dense(arr[:, None, :] if arr.ndim == 2 else arr)
    return _repalign.threshold(t, q, per_sample, _count("threads", threads))


def _prepared_layers(x: ArrayLike, name: str, mode: str, q: float, threads: int, isa) -> list[np.ndarray]:
    """Layers of one model after ``mode``: an N x L x D tensor is prepared as a whole (the
    paper's threshold is over the model's tensor); a list of layers layer by layer, as the
    paper's ``prepare_features`` treats a list."""
    if mode == "none":
        return as_layers(x, name)
    if isinstance(x, (list, tuple)):
        return [prepare(layer, mode, q, threads=threads, isa=isa) for layer in x]
    return as_layers(prepare(x, mode, q, threads=threads, isa=isa), name)


def sweep(
    layers_a: Union[ArrayLike, Sequence[ArrayLike]],
    layers_b: Union[ArrayLike, Sequence[ArrayLike]],
    metric: str = "mutual_knn",
    *,
    prepare: str = "none",
    q: float = 0.95,
    k: Optional[int] = None,
    cosine: Optional[bool] = None,
    kernel: Optional[str] = None,
    sigma: Optional[float] = None,
    unbiased: Optional[bool] = None,
    cca_dim: Optional[int] = None,
    rdm: Optional[str] = None,
    corr: Optional[str] = None,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> SweepResult:
    """Every layer pair of two models, each an N x L x D array or a list of N x D_l
    arrays, after preparation ``prepare`` (see :func:`prepare`; ``"paper"`` is the paper's
    pipeline). The best pair is the paper's ``compute_score`` rule."""
    spec = _spec(metric, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr)
    la = _prepared_layers(layers_a, "layers_a", prepare, q, threads, isa)
    lb = _prepared_layers(layers_b, "layers_b", prepare, q, threads, isa)
    threads = _count("threads", threads)
    return _sweep(_repalign.sweep(la, lb, spec, threads, isa, progress_callback(progress, metric)))


def calibrate(
    a: Union[ArrayLike, Sequence[ArrayLike]],
    b: Union[ArrayLike, Sequence[ArrayLike]],
    metric: str = "mutual_knn",
    *,
    permutations: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    prepare: str = "none",
    q: float = 0.95,
    k: Optional[int] = None,
    cosine: Optional[bool] = None,
    kernel: Optional[str] = None,
    sigma: Optional[float] = None,
    unbiased: Optional[bool] = None,
    cca_dim: Optional[int] = None,
    rdm: Optional[str] = None,
    corr: Optional[str] = None,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> Calibration:
    """``metric`` against its permutation null: B's rows are relabelled ``permutations``
    times (from ``seed``) and every relabelling rescored from per-layer state computed once.
    Two N x D inputs calibrate one score; layer stacks (as :func:`sweep`) calibrate the
    best pair against the null of the maximum over pairs."""
    spec = _spec(metric, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr)
    la = _prepared_layers(a, "a", prepare, q, threads, isa)
    lb = _prepared_layers(b, "b", prepare, q, threads, isa)
    cb = progress_callback(progress, f"{metric} null")
    permutations, seed = _count("permutations", permutations), _count("seed", seed)
    s, c = _repalign.calibrate(la, lb, spec, permutations, seed, alpha, _count("threads", threads), isa, cb)
    return _calibration(c, _sweep(s))


def calibrate_graphs(
    a: Union[KnnGraph, ArrayLike],
    b: Union[KnnGraph, ArrayLike],
    metric: str = "mutual_knn",
    k: Optional[int] = None,
    *,
    permutations: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> Calibration:
    """A kNN metric of two neighbour lists against its permutation null."""
    ia, ib, k = _graph_pair(a, b, k)
    permutations, seed, threads = _count("permutations", permutations), _count("seed", seed), _count("threads", threads)
    cb = progress_callback(progress, f"{metric} null")
    return _calibration(_repalign.calibrate_graphs(metric, ia, ib, k, permutations, seed, alpha, threads, isa, cb))


def _zoo_models(
    models: Union[dict[str, Any], Sequence[Any]], group_b: Union[dict[str, Any], Sequence[Any], None]
) -> tuple[list[tuple[str, Any]], Optional[int]]:
    """The (name, model) pairs of a zoo, group B's after ``models``' (a dict's keys, or list
    positions across both groups), and the index of group B's first model (None without
    groups). Two models sharing a name are a ValueError."""

    def named(group, start: int) -> list[tuple[str, Any]]:
        if isinstance(group, dict):
            return [(str(n), m) for n, m in group.items()]
        return [(str(start + i), m) for i, m in enumerate(group)]

    a = named(models, 0)
    b = named(group_b, len(a)) if group_b is not None else []
    names = [n for n, _ in a + b]
    if len(set(names)) != len(names):
        raise ValueError(f"two models share a name: {names}")
    return a + b, (len(a) if group_b is not None else None)


def zoo(
    models: Union[dict[str, Any], Sequence[Any]],
    metric: str = "mutual_knn",
    *,
    group_b: Union[dict[str, Any], Sequence[Any], None] = None,
    permutations: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
    cache: Optional[str] = None,
    prepare: str = "none",
    q: float = 0.95,
    k: Optional[int] = None,
    cosine: Optional[bool] = None,
    kernel: Optional[str] = None,
    sigma: Optional[float] = None,
    unbiased: Optional[bool] = None,
    cca_dim: Optional[int] = None,
    rdm: Optional[str] = None,
    corr: Optional[str] = None,
    threads: int = 0,
    isa: Optional[str] = None,
    progress: Progress = None,
) -> ZooResult:
    """Every pair of ``models`` (a dict name -> model, or a list: named "0", "1", ...; each
    model an N x L x D array or a list of N x D_l arrays, all of the same N samples), or
    with ``group_b`` every model of ``models`` against every model of ``group_b`` (the
    paper's language x vision experiment). Each model's per-layer state is computed once
    (or read from ``cache``, a directory: later calls compute only new layers), each pair
    gets its layer sweep, equal to :func:`sweep` of the pair, and with ``permutations`` its
    best is calibrated as :func:`calibrate` does, with Benjamini-Hochberg q-values and
    Holm-adjusted p-values across the pairs."""
    named, first_b = _zoo_models(models, group_b)
    names = [n for n, _ in named]
    spec = _spec(metric, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr)
    layers = [_prepared_layers(m, f"models[{n!r}]", prepare, q, threads, isa) for n, m in named]
    calibration = (_count("permutations", permutations), _count("seed", seed), float(alpha)) if permutations else None
    cb = progress_callback(progress, "zoo")
    pairs, matrix, stats = _repalign.zoo(
        layers, spec, first_b, calibration, None if cache is None else str(cache), _count("threads", threads), isa, cb
    )
    out = [
        ZooPair(
            names[i], names[j], _sweep(s), None if c is None else _calibration(c, _sweep(s)), qv, h
        )
        for i, j, s, c, qv, h in pairs
    ]
    rows, cols = (names, names) if first_b is None else (names[:first_b], names[first_b:])
    cache_out = None
    if stats is not None:
        keys = ("hits", "computed", "rejected", "unwritten", "first_write_error")
        cache_out = dict(zip(keys, stats))
        if cache_out["first_write_error"]:
            import warnings

            warnings.warn(f"repalign cache: {cache_out['unwritten']} states not stored: {cache_out['first_write_error']}")
    return ZooResult(names, list(rows), list(cols), matrix, out, cache_out)
