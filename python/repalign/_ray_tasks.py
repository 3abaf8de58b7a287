"""Many Ray tasks run from the driver, a window at a time, and never cancelled.

At most ``limit`` tasks are submitted at once (four per task slot of the cluster, see
:func:`window`); each one that finishes lets the next be submitted. An error, a task's or
the driver's own (Ctrl-C), stops the submission there: the tasks still in flight run on to
their end and their results are dropped with their references (after a task's error, the
driver first waits for those given before it, to name the first failure; see :func:`run`).
That is at most ``limit`` tasks, so the cluster is free again about one task's time later,
and nothing else of the call was ever queued.

Why not ``ray.cancel``: in Ray (2.60, and the releases before it) a cancel that meets a
task whose reply is just arriving aborts the *driver* process, on an internal check:
"Check failed: it != submissible_tasks_.end() Tried to complete task that was not pending"
(task_manager.cc; the cancel-against-``PushNormalTask``-reply race of ray-project/ray#54798,
still open on this path). It ended this project's test suite several times, CI's among
them, each time on cancelling the other shards' inspections after one shard held a NaN. A
bad shard or a Ctrl-C must end in an exception, never in the caller's process aborting.
The window also bounds the results that wait in the object store for the driver.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

import ray

K = TypeVar("K")


def slots(threads: int) -> int:
    """Tasks of ``threads`` CPUs the cluster runs at once (at least one)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, threads))


def window(threads: int) -> int:
    """Tasks in flight for tasks of ``threads`` CPUs: four per slot of the cluster. A slot
    that finishes a task finds the next already queued; with two per slot, tiny tasks (5 ms)
    cost 10-20% more wall time each than with all submitted at once (Ray's round trip to
    the driver shows), with four about the same (``benches/ray_knn.py``, N = 8,192, D = 8:
    4.5-4.8 ms a task, 4.6-5.0 with no window). After an error or Ctrl-C at most four
    tasks a slot run on."""
    return 4 * slots(threads)


def unwrap(e: BaseException) -> BaseException:
    """The exception a task raised, without Ray's wrapper."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def run(tasks: Iterable[tuple[K, Callable[[], Any]]], limit: int) -> Iterator[tuple[K, Any]]:
    """``(key, result)`` of each task as it finishes. ``tasks`` gives each task's key and a
    function that submits it and returns the reference to wait for; it is called only when
    fewer than ``limit`` tasks are in flight. On any exception the remaining tasks are never
    submitted (module docs). A task's error is raised as the task raised it, and it is the
    error of the first failing task in the order given: after a failure the tasks given
    before it that are still in flight are waited for (all of them were submitted before
    it), so the same bad input is named the same way, however the tasks interleave."""
    todo = enumerate(iter(tasks))
    pending: dict = {}
    failed: Optional[tuple[int, BaseException]] = None

    def fill() -> None:
        while failed is None and len(pending) < limit:
            nxt = next(todo, None)
            if nxt is None:
                return
            at, (key, submit) = nxt
            pending[submit()] = (at, key)

    fill()
    while pending:
        # A timeout, so that Ctrl-C is seen between waits.
        ready, rest = ray.wait(list(pending), num_returns=1, timeout=0.5)
        if ready and rest:  # every other finished one too, without waiting
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for ref in ready:
            at, key = pending.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                if failed is None or at < failed[0]:
                    failed = (at, unwrap(e))
                continue
            del ref
            if failed is None:
                yield key, value
        if failed is not None:
            # Only the tasks given before the failed one can change which error is raised.
            pending = {r: v for r, v in pending.items() if v[0] < failed[0]}
        fill()
    if failed is not None:
        raise failed[1]
