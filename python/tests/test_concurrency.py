"""Calls from several Python threads at once give the serial results, and a long call
releases the GIL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import repalign

from conftest import correlated


def _jobs():
    jobs = []
    for i in range(16):
        a, b = correlated(300 + 40 * i, 32, 48, 0.5, seed=i)
        kind = i % 4
        if kind == 0:
            jobs.append(lambda a=a, b=b: repalign.mutual_knn(a, b, 10))
        elif kind == 1:
            jobs.append(lambda a=a, b=b: repalign.cka(a, b))
        elif kind == 2:
            la, lb = np.stack([a, a[:, ::-1]], axis=1), np.stack([b, b * 2, -b], axis=1)
            jobs.append(lambda la=la, lb=lb: repalign.sweep(la, lb, "cknna", k=5, prepare="paper").scores.tobytes())
        else:
            jobs.append(lambda a=a: (lambda g: (g.indices.tobytes(), g.scores.tobytes()))(repalign.knn_graph(a, 7)))
    return jobs


def test_thread_pool_gives_the_serial_results():
    jobs = _jobs()
    serial = [job() for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(2):
            parallel = list(pool.map(lambda job: job(), jobs))
            assert parallel == serial


def test_a_long_call_releases_the_gil():
    x = np.random.default_rng(0).standard_normal((20000, 256)).astype(np.float32)
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter, daemon=True)
    t.start()
    try:
        # The counter's rate while this thread sleeps (sleep releases the GIL).
        c0 = count[0]
        time.sleep(0.3)
        rate = (count[0] - c0) / 0.3
        start, c1 = time.perf_counter(), count[0]
        g = repalign.knn_graph(x, 10, threads=1)
        elapsed, during = time.perf_counter() - start, count[0] - c1
    finally:
        stop.set()
        t.join()
    assert g.indices.shape == (20000, 10)
    assert elapsed > 0.3, f"the call took only {elapsed:.2f} s: too short to tell"
    # Holding the GIL, the counter would be stuck for the whole call (a few switch
    # intervals at most). Released, it runs at a good fraction of its free rate.
    print(f"counter: {during} during {elapsed:.2f} s, free rate {rate:.0f}/s")
    assert during > 0.2 * rate * elapsed, (during, rate, elapsed)
