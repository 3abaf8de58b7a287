# Type stubs of the native module. The public API is `repalign` (__init__.py), which
# converts inputs (torch, bfloat16, other dtypes, strided views) before calling these.
from typing import Callable, Optional

import numpy as np

__version__: str
METRICS: list[str]
PREPARE_MODES: list[str]
ISAS: list[str]

_Progress = Optional[Callable[[str, int, int], None]]
# name, k, kernel, sigma, unbiased, cca_dim, cosine, rdm, corr
_Spec = tuple[
    str, Optional[int], Optional[str], Optional[float], Optional[bool], Optional[int], Optional[bool], Optional[str], Optional[str]
]
_Graph = tuple[np.ndarray, np.ndarray, Optional[str]]
_Sweep = tuple[np.ndarray, float, Optional[tuple[int, int]], Optional[str], list[str]]
_Summary = tuple[float, float, float, float, float, float, float, float, np.ndarray]

def knn_graph(x: np.ndarray, k: int, cosine: bool, threads: int, isa: Optional[str], progress: _Progress) -> _Graph: ...
def knn_search(
    queries: np.ndarray,
    database: np.ndarray,
    k: int,
    cosine: bool,
    offset: int,
    threads: int,
    isa: Optional[str],
    progress: _Progress,
) -> _Graph: ...
def knn_search_both(
    a: np.ndarray,
    b: np.ndarray,
    k: int,
    cosine: bool,
    offset_a: int,
    offset_b: int,
    threads: int,
    isa: Optional[str],
    progress: _Progress,
) -> tuple[_Graph, _Graph]: ...
def merge(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> _Graph: ...
def score(a: np.ndarray, b: np.ndarray, spec: _Spec, threads: int, isa: Optional[str], progress: _Progress) -> float: ...
def score_graphs(name: str, a: np.ndarray, b: np.ndarray, k: int) -> float: ...
def prepare(x: np.ndarray, mode: str, q: float, threads: int, isa: Optional[str]) -> tuple[np.ndarray, float]: ...
def threshold(x: np.ndarray, q: float, per_sample: bool, threads: int) -> float: ...
def sweep(
    layers_a: list[np.ndarray], layers_b: list[np.ndarray], spec: _Spec, threads: int, isa: Optional[str], progress: _Progress
) -> _Sweep: ...
def calibrate(
    layers_a: list[np.ndarray],
    layers_b: list[np.ndarray],
    spec: _Spec,
    permutations: int,
    seed: int,
    alpha: float,
    threads: int,
    isa: Optional[str],
    progress: _Progress,
) -> tuple[_Sweep, _Summary]: ...
def zoo(
    models: list[list[np.ndarray]],
    spec: _Spec,
    first_b: Optional[int],
    calibration: Optional[tuple[int, int, float]],
    cache: Optional[str],
    threads: int,
    isa: Optional[str],
    progress: _Progress,
) -> tuple[
    list[tuple[int, int, _Sweep, Optional[_Summary], Optional[float], Optional[float]]],
    np.ndarray,
    Optional[tuple[int, int, int, int, Optional[str]]],
]: ...
def layer_state(x: np.ndarray, spec: _Spec, threads: int, isa: Optional[str]) -> bytes: ...
def zoo_pair(
    states_a: list[bytes],
    states_b: list[bytes],
    spec: _Spec,
    calibration: Optional[tuple[int, int, float]],
    threads: int,
    isa: Optional[str],
) -> tuple[_Sweep, Optional[_Summary]]: ...
def adjust_p_values(p: list[float]) -> tuple[list[float], list[float]]: ...
def zoo_map(matrix: list[list[float]], max: float) -> tuple[list[float], list[float], np.ndarray, int, float]: ...
def rank_correlation(x: list[float], y: list[float], permutations: int, seed: int) -> tuple[float, float, int, bool]: ...
def calibrate_graphs(
    name: str,
    a: np.ndarray,
    b: np.ndarray,
    k: int,
    permutations: int,
    seed: int,
    alpha: float,
    threads: int,
    isa: Optional[str],
    progress: _Progress,
) -> _Summary: ...
def available_isas() -> list[str]: ...
def release_memory() -> int: ...
def _bench_score(a: np.ndarray, b: np.ndarray, spec: _Spec, reps: int, threads: int) -> list[float]: ...
