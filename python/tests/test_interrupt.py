"""Ctrl-C stops a long call: SIGINT to a subprocess in the middle of a call that would take
more than 20 s raises KeyboardInterrupt there within about a second, and the module works
afterwards."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import repalign

    rng = np.random.default_rng(0)
    which = sys.argv[1]
    if which == "calibrate":  # about 35 s: 10**6 null samples
        a = rng.standard_normal((2000, 64)).astype(np.float32)
        b = a + 0.1 * rng.standard_normal((2000, 64)).astype(np.float32)
        call = lambda: repalign.calibrate(a, b, "mutual_knn", permutations=10**6, threads=1)
    elif which == "knn_graph":  # about 30 s on one thread
        x = rng.standard_normal((60000, 512)).astype(np.float32)
        call = lambda: repalign.knn_graph(x, 10, threads=1)
    else:  # a sweep of 6 x 6 big layers with a progress callback
        x = rng.standard_normal((20000, 6, 256)).astype(np.float32)
        call = lambda: repalign.sweep(x, x, "mutual_knn", k=10, threads=1, progress=lambda *a: None)
    print("ready", flush=True)
    start = time.monotonic()
    try:
        call()
        out = {"outcome": "finished", "elapsed": time.monotonic() - start}
    except KeyboardInterrupt as e:
        out = {"outcome": "interrupted", "at": time.monotonic(), "elapsed": time.monotonic() - start}
    # The module still works after an interrupted call.
    out["after"] = repalign.mutual_knn(rng.standard_normal((50, 8)), rng.standard_normal((50, 8)), 5) >= 0
    print(json.dumps(out), flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child")
@pytest.mark.parametrize("which", ["calibrate", "knn_graph", "sweep"])
def test_ctrl_c_interrupts_a_long_call(which):
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, which], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        time.sleep(1.0)
        sent = time.monotonic()  # CLOCK_MONOTONIC: the same clock in the child
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["outcome"] == "interrupted", r
    latency = r["at"] - sent
    print(f"{which}: KeyboardInterrupt {latency:.3f} s after SIGINT")
    assert 0 <= latency < 2.0, f"KeyboardInterrupt {latency:.2f} s after SIGINT"
    assert r["elapsed"] < 5.0
    assert r["after"] is True
