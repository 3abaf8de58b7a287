"""Shared helpers for the repalign Python tests: the repository's golden data
(tests/data/golden, tests/data/golden-extra) and random test inputs."""

from __future__ import annotations

import gzip
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

#: The repository root (python/tests/conftest.py -> ../..).
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden"
GOLDEN_EXTRA = DATA / "golden-extra"


def _decode(x):
    """The manifest's non-finite numbers are strings."""
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return float(x)
    return x


@lru_cache(maxsize=None)
def manifest() -> dict:
    return json.loads((GOLDEN / "manifest.json").read_text())


@lru_cache(maxsize=None)
def extra_manifest() -> dict:
    return json.loads((GOLDEN_EXTRA / "manifest.json").read_text())


@lru_cache(maxsize=None)
def _load(folder: str, file: str) -> np.ndarray:
    with gzip.open(Path(folder) / f"{file}.gz") as f:
        arr = np.load(f)
    arr.setflags(write=False)
    return arr


def load_golden(file: str) -> np.ndarray:
    """A golden `.npy` (stored gzipped), by its manifest name; read-only, cached."""
    return _load(str(GOLDEN), file)


def load_extra(file: str) -> np.ndarray:
    return _load(str(GOLDEN_EXTRA), file)


def cases(*types: str) -> list[dict]:
    return [c for c in manifest()["cases"] if not types or c["type"] in types]


def case(case_id: str) -> dict:
    return next(c for c in manifest()["cases"] if c["id"] == case_id)


METRIC_TYPES = (
    "gaussian",
    "correlated",
    "lowrank",
    "float16_correlated",
    "float16_gaussian",
    "unnormalized_correlated",
)
PIPELINE_TYPES = ("pipeline", "pipeline_float16")
KNN_METRICS = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn")


def metric_cases() -> list[dict]:
    return cases(*METRIC_TYPES)


def case_inputs(c: dict) -> tuple[np.ndarray, np.ndarray]:
    return load_golden(c["inputs"]["A"]["file"]), load_golden(c["inputs"]["B"]["file"])


def ordered(r: dict, a, b):
    """The arguments in the order the reference was called with (`args`: "A,B" or "B,A")."""
    return (b, a) if r["args"] == "B,A" else (a, b)


def expected(r: dict) -> float:
    return float(_decode(r["expected"]))


def close(got: float, want: float, tol: float) -> bool:
    return math.isfinite(got) and abs(got - want) <= tol


# Random data ---------------------------------------------------------------------------


def gaussian(n: int, d: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Continuous random features: exact similarity ties have probability ~0, and the tests
    that compare neighbour lists with an oracle check the gaps they rely on."""
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def correlated(n: int, d_a: int, d_b: int, noise: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d_a))
    b = a @ rng.standard_normal((d_a, d_b)) / math.sqrt(d_a) + noise * rng.standard_normal((n, d_b))
    return a.astype(np.float32), b.astype(np.float32)


@pytest.fixture
def pair():
    """A correlated pair, N = 120, D_A = 24, D_B = 40 (float32)."""
    return correlated(120, 24, 40, 0.5, seed=7)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local two-CPU Ray cluster for every test module that needs it (test_ray,
    test_ray_zoo), started once per session rather than once per module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def no_ray_cancel(monkeypatch):
    """``ray.cancel`` fails the test: a cancel that meets a finishing task can abort the
    driver process (``repalign._ray_tasks``), so repalign.ray never cancels."""
    ray = pytest.importorskip("ray")

    def cancel(*args, **kwargs):
        raise AssertionError("ray.cancel called")

    monkeypatch.setattr(ray, "cancel", cancel)
