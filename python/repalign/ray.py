"""The exact self-kNN graph of a matrix stored as row shards, on a Ray cluster.

``knn_graph(shards, k)`` equals ``repalign.knn_graph(np.concatenate(shards), k)`` bit for
bit (indices and scores, ties included) whatever the shard and block sizes. Each shard is
cut into blocks of rows, and every unordered pair of rows is scored by exactly one task:
either a block's own-shard task (a :func:`repalign.knn_graph` of the block, global indices
by adding its first row, and a :func:`repalign.knn_search_both` of the block with the
shard's rows after it) or the task of a block and a whole later shard
(:func:`repalign.knn_search_both`). Each such task returns lists for both sides, with
global indices (``offset_a=``, ``offset_b=``); the driver cuts a range's lists into its
blocks and combines each block's parts with :func:`repalign.merge`, which is exact by the
order contract (higher score first, equal scores by lower index). Scores do not depend on
which side of a pair is the query, nor on the call that computed them: the core
accumulates each inner product in feature order with fused multiply-adds.

Work and memory. Every pair is scored once: N² D / 2 multiply-adds, as the single-process
call, for any layout; with p blocks per shard and S shards, p S (S + 1) / 2 tasks. A task
holds one block, one shard and their lists, ``block_rows·D + shard_rows·D`` elements plus
``(block_rows + shard_rows)·k`` entries (a shard given as an array or object reference
also brings the block's whole shard into the node's object store, shared, not copied); the
driver holds the N x k result and, per finished task in flight, the lists of a block and
of a range of at most one shard.

Failures. Each shard is first inspected by a task (shape, dtype, every value finite), so a
bad shard (NaN or infinity, a different width or dtype, an unreadable file) fails the call
before any search is scheduled, with the shard and row named. Errors raised in a task are
not retried (``retry_exceptions=False``: they would fail again); a worker that dies (killed,
out of memory) is, up to ``max_retries`` times per task, and the result is still exact.
Tasks are submitted four per task slot at a time; Ctrl-C (or any error) stops the
submission, and the tasks in flight finish on their own, unread. They are not cancelled:
Ray's cancel can abort the driver process (``_ray_tasks``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

try:
    import ray
except ImportError as e:  # pragma: no cover - exercised without ray installed
    raise ImportError("repalign.ray needs Ray: pip install 'repalign[ray]'") from e

import repalign

from . import _ray_tasks
from ._progress import progress_callback

__all__ = ["knn_graph", "ShardError"]

#: A shard: a numpy array (or anything repalign reads), a Ray object reference to one, the
#: path of a .npy or single-tensor .safetensors file every worker can read, or a callable
#: that returns the shard when called in a worker.
Shard = Union[np.ndarray, "ray.ObjectRef", str, "os.PathLike[str]", Callable[[], Any]]


class ShardError(ValueError):
    """A shard that cannot be used: unreadable, not N x D, a different D or dtype from
    shard 0, or a value that is NaN or infinite. ``shard`` is its index in the list."""

    def __init__(self, shard: int, message: str) -> None:
        super().__init__(message)
        self.shard = shard

    def __reduce__(self):  # raised in workers, pickled back to the driver
        return (ShardError, (self.shard, self.args[0]))


def _describe(i: int, src: Any) -> str:
    if isinstance(src, (str, os.PathLike)):
        return f"shard {i} ({os.fspath(src)})"
    return f"shard {i}"


_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "F64": "float64", "BF16": "bfloat16"}


def _read_safetensors(path: str) -> np.ndarray:
    """The one tensor of a .safetensors file, memory-mapped (header: 8-byte length, JSON)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    tensors = {name: t for name, t in header.items() if name != "__metadata__"}
    if len(tensors) != 1:
        raise ValueError(f"expected one tensor, found {len(tensors)}: {sorted(tensors)[:5]}")
    (t,) = tensors.values()
    name = _SAFETENSORS_DTYPES.get(t["dtype"])
    if name is None:
        raise ValueError(f"unsupported safetensors dtype {t['dtype']}")
    if name == "bfloat16":
        import ml_dtypes

        dtype = np.dtype(ml_dtypes.bfloat16)
    else:
        dtype = np.dtype(name)
    start, end = t["data_offsets"]
    shape = tuple(t["shape"])
    if end - start != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"tensor data of {end - start} bytes does not match shape {shape}")
    return np.memmap(path, dtype=dtype, mode="r", offset=8 + n + start, shape=shape)


def _open(src: Any) -> Any:
    """The shard's rows, in a worker: files are memory-mapped, so a slice reads only its rows."""
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if path.endswith(".safetensors"):
            return _read_safetensors(path)
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if callable(src):
        return src()
    return src


def _inspect(i: int, src: Any) -> tuple[int, int, str]:
    """Rows, columns and dtype of shard ``i``; ShardError if it is unreadable, not 2-D or
    holds a NaN or infinity (its first such row and column named)."""
    what = _describe(i, src)
    try:
        x = _open(src)
        shape, dtype = tuple(x.shape), np.dtype(x.dtype)
    except Exception as e:
        raise ShardError(i, f"{what}: cannot be read: {type(e).__name__}: {e}") from None
    if len(shape) != 2:
        raise ShardError(i, f"{what}: expected an N x D matrix, got shape {shape}")
    if dtype.kind == "f" or dtype.name == "bfloat16":
        step = max(1, (1 << 22) // max(1, shape[1]))  # PERF: about 4M values at a time
        for r0 in range(0, shape[0], step):
            bad = ~np.isfinite(np.asarray(x[r0 : r0 + step], dtype=np.float32))
            if bad.any():
                r, c = np.argwhere(bad)[0]
                v = np.asarray(x[r0 + r, c], dtype=np.float32)
                raise ShardError(i, f"{what}: row {r0 + r} (of the shard), column {c} is {v} (not finite)")
    return shape[0], shape[1], dtype.str


def _task(
    qs: int, qsrc: Any, lo: int, hi: int, q_offset: int,
    ds: int, dsrc: Any, d_offset: int, k: int, cosine: bool, threads: int,
) -> tuple[tuple[np.ndarray, np.ndarray], Optional[tuple[np.ndarray, np.ndarray]]]:
    """Every pair of rows ``lo..hi`` of shard ``qs`` (the block) with the rows of its range,
    scored once, with global indices: the block's lists among the range, and the range's
    lists among the block (None for an empty range). The range is shard ``ds``, or, when
    ``ds == qs``, the shard's rows after the block; then the block's lists also hold its own
    self graph (self excluded)."""
    where = f"rows {lo}..{hi} of shard {qs} against shard {ds}"
    database = _read(ds, dsrc, where)
    x = database if qs == ds else _read(qs, qsrc, where)
    try:
        block = x[lo:hi]
        if qs != ds:
            return _both(block, database, q_offset + lo, d_offset, k, cosine, threads)
        return _own_shard(x, lo, hi, d_offset, k, cosine, threads)
    except Exception as e:
        raise ShardError(ds, f"{where}: {type(e).__name__}: {e}") from None


def _read(i: int, src: Any, where: str) -> Any:
    try:
        return _open(src)
    except Exception as e:
        raise ShardError(i, f"{where}: shard {i} cannot be read: {type(e).__name__}: {e}") from None


Lists = tuple[np.ndarray, np.ndarray]


def _both(a: Any, b: Any, a_offset: int, b_offset: int, k: int, cosine: bool, threads: int) -> tuple[Lists, Lists]:
    """``a``'s lists among ``b`` and ``b``'s among ``a`` (``min(k, other side's rows)`` wide),
    each pair scored once by :func:`repalign.knn_search_both`; a side with fewer than
    ``k`` rows leaves the other side's longer lists to a search (a small one)."""
    ka, kb = min(k, b.shape[0]), min(k, a.shape[0])
    ab, ba = repalign.knn_search_both(
        a, b, min(ka, kb), cosine=cosine, offset_a=a_offset, offset_b=b_offset, threads=threads
    )
    if ab.k < ka:
        ab = repalign.knn_search(a, b, ka, cosine=cosine, offset=b_offset, threads=threads)
    if ba.k < kb:
        ba = repalign.knn_search(b, a, kb, cosine=cosine, offset=a_offset, threads=threads)
    return (ab.indices, ab.scores), (ba.indices, ba.scores)


def _own_shard(
    x: Any, lo: int, hi: int, offset: int, k: int, cosine: bool, threads: int
) -> tuple[Lists, Optional[Lists]]:
    """Rows ``lo..hi`` of shard ``x`` among themselves (a self graph) and with the rows
    after them (both directions): every pair once. The rows before the block get their
    pairs with it from the earlier blocks' tasks."""
    block, parts, after = x[lo:hi], [], None
    if hi - lo > 1:
        g = repalign.knn_graph(block, min(k, hi - lo - 1), cosine=cosine, threads=threads)
        parts.append((g.indices + np.int32(offset + lo), g.scores))
    if x.shape[0] > hi:
        mine, after = _both(block, x[hi:], offset + lo, offset + hi, k, cosine, threads)
        parts.append(mine)
    if not parts:  # one row, the shard's last: its pairs come from the earlier blocks
        return (np.empty((1, 0), dtype=np.int32), np.empty((1, 0), dtype=np.float32)), None
    if len(parts) == 1:
        return parts[0], after
    g = repalign.merge(parts, min(k, x.shape[0] - 1 - lo))
    return (g.indices, g.scores), after


# Any: Ray's stubs type remote functions of at most 10 arguments.
_inspect_task: Any = ray.remote(_inspect)
_task_remote: Any = ray.remote(_task)  # type: ignore[arg-type]


@dataclass
class _Block:
    """One block of rows and its lists so far (merged as they arrive); ``tasks``: the
    tasks whose results still have lists for it."""

    start: int
    stop: int
    tasks: int
    parts: list
    width: int = 0


def knn_graph(
    source: Sequence[Shard],
    k: int,
    *,
    cosine: bool = False,
    block_rows: Optional[int] = None,
    num_cpus_per_task: int = 1,
    max_retries: int = 3,
    progress: Union[bool, Callable[[str, int, int], None], None] = None,
    out: Union[str, "os.PathLike[str]", None] = None,
) -> repalign.KnnGraph:
    """The ``k`` most similar other rows of every row of the matrix whose row shards are
    ``source`` (in order), computed by Ray tasks; equal bit for bit to
    ``repalign.knn_graph(np.concatenate(shards), k, cosine=cosine)``.

    Shards are numpy arrays (put in the object store once), Ray object references, paths
    of ``.npy`` or single-tensor ``.safetensors`` files on storage every worker reads (the
    driver never opens them), or callables run in the workers that return a shard (called
    once per task that needs it; they must return the same rows each time). Every shard
    needs the same D and dtype. Each shard is cut into blocks of at most ``block_rows`` rows
    (default: whole shards when their tasks alone give two per cluster CPU, else each shard
    cut into as few blocks as do); a task scores a block with a later shard, or with itself
    and the rest of its shard, once each pair, on ``num_cpus_per_task`` threads, and
    returns both sides' lists (``p`` blocks per shard, ``S`` shards: ``p S (S + 1) / 2``
    tasks, N² D / 2 multiply-adds in all). ``max_retries``: attempts after a worker
    dies. ``progress``: True (a bar) or a callable ``("tasks", done, total)``. ``out``: a
    directory where the lists are written as they complete, ``indices.npy`` (int32) and
    ``scores.npy`` (float32), N x k each; the result's arrays are then memory maps of them,
    and the driver holds only the lists of unfinished blocks. Connects to
    Ray with ``ray.init()`` when it is not initialised (a local cluster, or
    ``RAY_ADDRESS``)."""
    k = _positive("k", k)
    threads = _positive("num_cpus_per_task", num_cpus_per_task)
    if isinstance(source, (np.ndarray, str, os.PathLike)) or callable(source):
        raise TypeError("source must be a list of shards (arrays, object references, paths or callables)")
    srcs = list(source)
    if not srcs:
        raise ValueError("source: no shards")
    if not ray.is_initialized():
        ray.init()
    report = progress_callback(progress, "repalign.ray.knn_graph")
    opts = dict(num_cpus=threads, max_retries=_count("max_retries", max_retries), retry_exceptions=False)
    # The driver's arrays go to the object store once; tasks receive them by reference.
    srcs = [ray.put(_dense(s, i)) if _is_array(s) else s for i, s in enumerate(srcs)]

    limit = _ray_tasks.window(threads)
    inspect = _inspect_task.options(**opts)
    shapes: list[Any] = [None] * len(srcs)
    for i, shape in _ray_tasks.run(((i, partial(inspect.remote, i, s)) for i, s in enumerate(srcs)), limit):
        shapes[i] = shape
    rows = [r for r, _, _ in shapes]
    _, d0, t0 = shapes[0]
    for i, (r, d, t) in enumerate(shapes):
        if d != d0:
            raise ShardError(i, f"{_describe(i, source[i])}: D = {d}, but shard 0 has D = {d0}")
        if t != t0:
            raise ShardError(i, f"{_describe(i, source[i])}: dtype {np.dtype(t)}, but shard 0 is {np.dtype(t0)}")
        if r == 0:
            raise ShardError(i, f"{_describe(i, source[i])}: no rows")
    n = sum(rows)
    if k > n - 1:
        raise ValueError(f"k = {k}, but the {n} rows have at most {n - 1} other rows")
    if n > np.iinfo(np.int32).max:
        raise ValueError(f"{n} rows: indices would exceed int32")
    offsets = np.concatenate([[0], np.cumsum(rows)]).tolist()

    shards = len(srcs)
    if block_rows is None:
        # Whole shards as blocks when their S (S + 1) / 2 tasks give every task slot two
        # tasks (fewer blocks, fewer and larger tasks); else each shard cut into as few
        # blocks as do: p blocks per shard make p S (S + 1) / 2 tasks.
        per_shard = -(-4 * _ray_tasks.slots(threads) // (shards * (shards + 1)))
        block_rows = max(1, -(-max(rows) // per_shard))
    block_rows = _positive("block_rows", block_rows)
    task = _task_remote.options(**opts)
    # Blocks of each shard, near-equal, in row order.
    blocks: list[_Block] = []
    of_shard: list[list[int]] = []
    for qs in range(shards):
        cuts = -(-rows[qs] // block_rows)
        edges = [rows[qs] * c // cuts for c in range(cuts + 1)]
        of_shard.append(list(range(len(blocks), len(blocks) + cuts)))
        blocks.extend(_Block(offsets[qs] + lo, offsets[qs] + hi, 0, []) for lo, hi in zip(edges, edges[1:]))
    # Every unordered pair of rows is scored by one task: a block with itself and the rest
    # of its shard after it, or a block with a whole later shard. Each task gives lists to
    # its block and to the blocks of its range; every block's count of tasks is known
    # before the first is submitted (a block's rows are written when its last one is in).
    specs = []
    for qs in range(shards):
        for b in of_shard[qs]:
            lo, hi = blocks[b].start - offsets[qs], blocks[b].stop - offsets[qs]
            for ds in range(qs, shards):
                if ds == qs and hi - lo == 1 and hi == rows[qs]:
                    continue  # one row, its shard's last: the earlier blocks pair it
                ranged = [c for c in of_shard[ds] if c > b]
                specs.append(((b, ranged), (qs, srcs[qs], lo, hi, offsets[qs], ds, srcs[ds], offsets[ds], k, cosine, threads)))
                for c in [b, *ranged]:
                    blocks[c].tasks += 1

    if out is None:
        indices, scores = np.empty((n, k), dtype=np.int32), np.empty((n, k), dtype=np.float32)
    else:
        os.makedirs(out, exist_ok=True)
        write = np.lib.format.open_memmap
        indices = write(os.path.join(out, "indices.npy"), mode="w+", dtype=np.int32, shape=(n, k))
        scores = write(os.path.join(out, "scores.npy"), mode="w+", dtype=np.float32, shape=(n, k))
    total = len(specs)
    if report is not None:
        report("tasks", 0, total)
    submits = ((key, partial(task.remote, *args)) for key, args in specs)
    for done, ((b, ranged), ((ind, sc), after)) in enumerate(_ray_tasks.run(submits, limit), 1):
        _add(blocks[b], ind, sc, k, indices, scores)
        if ranged:
            # The range's lists, cut into its blocks' rows.
            r0 = blocks[ranged[0]].start
            for c in ranged:
                rows_c = slice(blocks[c].start - r0, blocks[c].stop - r0)
                _add(blocks[c], after[0][rows_c], after[1][rows_c], k, indices, scores)
        if report is not None:
            report("tasks", done, total)
    for a in (indices, scores):
        if isinstance(a, np.memmap):
            a.flush()
    return repalign.KnnGraph(indices=indices, scores=scores)


def _add(block: _Block, ind: np.ndarray, sc: np.ndarray, k: int, indices: np.ndarray, scores: np.ndarray) -> None:
    """Folds one task's lists into its block; the last writes the block's rows."""
    if ind.shape[1]:
        block.parts.append((ind, sc))
        block.width += ind.shape[1]
    block.tasks -= 1
    if block.width >= k and (len(block.parts) > 1 or block.tasks == 0):
        g = repalign.merge(block.parts, k)
        block.parts, block.width = [(g.indices, g.scores)], k
    if block.tasks == 0:
        ind, sc = block.parts[0]
        indices[block.start : block.stop] = ind
        scores[block.start : block.stop] = sc
        block.parts = []


def _is_array(x: Any) -> bool:
    return not isinstance(x, (str, os.PathLike, ray.ObjectRef)) and not callable(x)


def _dense(x: Any, i: int) -> np.ndarray:
    """A driver-side shard as a numpy array for the object store (torch tensors too:
    bfloat16 ones as ml_dtypes' bfloat16, which repalign reads as such)."""
    if type(x).__module__.startswith("torch"):
        import torch

        t = x.detach().cpu()
        if t.dtype == torch.bfloat16:
            import ml_dtypes

            return np.from_dlpack(t.view(torch.int16)).view(ml_dtypes.bfloat16)
        return t.numpy()
    try:
        return np.asarray(x)
    except Exception as e:
        raise ShardError(i, f"shard {i}: not an array: {type(e).__name__}: {e}") from None


def _positive(name: str, value: Any) -> int:
    value = _count(name, value)
    if value == 0:
        raise ValueError(f"{name} must be >= 1")
    return value


def _count(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


# The zoo on the cluster lives in its own module; it is part of this one's API.
from ._ray_zoo import zoo  # noqa: E402

__all__ += ["zoo"]
