"""``repalign.ray.zoo``: a model zoo on a Ray cluster, equal to :func:`repalign.zoo`.

Two kinds of task. One per model prepares its layers and computes each layer's state (kNN
graph, kernel or basis) as bytes (``_repalign.layer_state``); the states go to Ray's
object store once and are shared by every pair. One per model pair reads both models'
states back (checked: bytes of another metric or malformed bytes are an error) and sweeps
and, with permutations, calibrates the pair (``_repalign.zoo_pair``), as the single-process
zoo does for that pair. The driver adjusts the p-values across pairs (Benjamini-Hochberg,
Holm) and builds the matrix. Results do not depend on the layout, bit for bit. Tasks are
submitted a window at a time and never cancelled (``_ray_tasks``): an error or Ctrl-C stops
the submission.

Memory: the object store holds every layer's state (kNN metrics: 8·N·k bytes a layer;
kernel metrics 8·N²); a model task holds its model and its states; a pair task two
models' states and one null sample's work; the driver the results.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Optional, Sequence, Union

import numpy as np
import ray

from . import ZooPair, ZooResult, _calibration, _count, _prepared_layers, _repalign, _spec, _sweep, _zoo_models
from . import _ray_tasks
from ._progress import progress_callback


def _load(model: Any) -> Any:
    if isinstance(model, (str, os.PathLike)):
        return np.load(os.fspath(model), mmap_mode="r")
    return model


@ray.remote
def _model_states(name: str, model: Any, spec: tuple, prepare: str, q: float, threads: int, isa: Optional[str]):
    try:
        layers = _prepared_layers(_load(model), name, prepare, q, threads, isa)
        return len(layers[0]), [_repalign.layer_state(x, spec, threads, isa) for x in layers]
    except Exception as e:  # named: the driver says which model failed
        raise ValueError(f"model {name!r}: {e}") from None


@ray.remote
def _pair(states_a: list, states_b: list, spec: tuple, calibration, threads: int, isa: Optional[str]):
    return _repalign.zoo_pair(states_a, states_b, spec, calibration, threads, isa)


def zoo(
    models: Union[dict[str, Any], Sequence[Any]],
    metric: str = "mutual_knn",
    *,
    group_b: Union[dict[str, Any], Sequence[Any], None] = None,
    permutations: int = 0,
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
    isa: Optional[str] = None,
    num_cpus_per_task: int = 1,
    max_retries: int = 3,
    progress: Any = None,
) -> ZooResult:
    """:func:`repalign.zoo` on the connected Ray cluster: the same arguments and the same
    result, bit for bit. A model is an N x L x D array, a list of N x D_l arrays, a Ray
    object reference to one, or the path of a .npy file every worker can read (N x L x D
    or N x D). Each model's layers are one task, each model pair another, with
    ``num_cpus_per_task`` CPUs (and as many threads) each; a worker that dies is retried
    ``max_retries`` times, an error in a task (bad values, k too large) is not."""
    named, first_b = _zoo_models(models, group_b)
    names = [n for n, _ in named]
    if len(names) < 2 or (first_b is not None and (first_b == 0 or first_b == len(names))):
        raise ValueError("a zoo needs two models or more, and both groups of a bipartite zoo at least one")
    spec = _spec(metric, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr)
    threads = _count("num_cpus_per_task", num_cpus_per_task)
    calibration = (_count("permutations", permutations), _count("seed", seed), float(alpha)) if permutations else None
    opts = dict(num_cpus=threads, max_retries=_count("max_retries", max_retries), retry_exceptions=False)
    pairs = (
        [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
        if first_b is None
        else [(i, j) for i in range(first_b) for j in range(first_b, len(names))]
    )
    bar = progress_callback(progress, "zoo")
    total = len(names) + len(pairs)
    limit = _ray_tasks.window(threads)
    # Each model task returns its N and its states as two objects: the driver reads the N
    # (every model must describe the same samples) and never fetches the states, which go
    # to the pair tasks by reference, stored once.
    layer_refs: list = [None] * len(names)

    def model_task(i: int) -> Any:
        refs: Any = _model_states.options(num_returns=2, **opts).remote(*named[i], spec, prepare, q, threads, isa)
        layer_refs[i] = refs[1]
        return refs[0]

    ns: list = [None] * len(names)
    done = 0
    for i, n in _ray_tasks.run(((i, partial(model_task, i)) for i in range(len(names))), limit):
        ns[i] = n
        done += 1
        if bar:
            bar("tasks", done, total)
    if any(n != ns[0] for n in ns):
        bad = next(i for i, n in enumerate(ns) if n != ns[0])
        raise ValueError(
            f"the models describe different samples: {names[0]!r} has N = {ns[0]}, {names[bad]!r} has N = {ns[bad]}"
        )
    pair = _pair.options(**opts)
    submits = (
        (at, partial(pair.remote, layer_refs[i], layer_refs[j], spec, calibration, threads, isa))
        for at, (i, j) in enumerate(pairs)
    )
    results: dict = {}
    for at, result in _ray_tasks.run(submits, limit):
        results[at] = result
        done += 1
        if bar:
            bar("tasks", done, total)
    out: list[ZooPair] = []
    for at, (i, j) in enumerate(pairs):
        s, c = results[at]
        sweep = _sweep(s)
        out.append(ZooPair(names[i], names[j], sweep, None if c is None else _calibration(c, sweep)))
    if calibration is not None:
        qv, holm = _repalign.adjust_p_values([x.calibration.p_value for x in out if x.calibration is not None])
        out = [ZooPair(x.a, x.b, x.sweep, x.calibration, qq, hh) for x, qq, hh in zip(out, qv, holm)]
    rows, cols = (names, names) if first_b is None else (names[:first_b], names[first_b:])
    matrix = np.full((len(rows), len(cols)), np.nan)
    offset = 0 if first_b is None else first_b
    for (i, j), x in zip(pairs, out):
        matrix[i, j - offset] = x.sweep.best
        if first_b is None:
            matrix[j, i] = x.sweep.best
    return ZooResult(names, list(rows), list(cols), matrix, out, None)
