"""Input rules (repalign/_inputs.py): what is read in place, what is copied or converted,
and what is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest
import torch

import repalign
from repalign._inputs import as_array

from conftest import correlated

ZERO_COPY = textwrap.dedent(
    """
    import json, numpy as np, repalign

    def peak():
        # This process's peak RSS. Not getrusage's ru_maxrss: Linux carries it over from
        # the parent across fork + exec, so the pytest process's own peak (torch loaded)
        # would hide every growth below it. VmHWM belongs to this process's memory map.
        with open("/proc/self/status") as f:
            line = next(l for l in f if l.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    x = np.random.default_rng(0).random((2000, 50_000), dtype=np.float32)  # 400 MB
    repalign.knn_graph(x[:64, :1000], 5)  # first-call allocations (thread pool) out of the way
    out = {"input": x.nbytes}
    for name, view in (("cols", x[:, :25_000]), ("rows", x[::2])):
        assert not view.flags.c_contiguous
        base = peak()
        ref = repalign.knn_search(view[:4], view, 5)
        out[name + "_search"] = peak() - base
        base = peak()
        g = repalign.knn_graph(view, 5)
        out[name + "_graph"] = peak() - base
        out[name + "_view"] = view.nbytes
        assert (g.indices[:4, 0] != np.arange(4)).all()
    # The copy case: a Fortran-order array is copied once into C order.
    f = np.asfortranarray(x[:, :12_500])
    base = peak()
    repalign.knn_search(f[:4], f, 5)
    out["fortran"] = peak() - base
    out["fortran_size"] = f.nbytes
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_strided_views_are_not_copied():
    """Peak RSS of a subprocess: strided views of a 400 MB array are read in place, a
    Fortran-order array is copied (so the measurement can tell)."""
    p = subprocess.run([sys.executable, "-c", ZERO_COPY], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    # knn_search with 4 queries: nothing of the database's size is allocated.
    for name in ("cols", "rows"):
        assert r[f"{name}_search"] < 0.1 * r["input"], r
    # knn_graph packs one super-block of query rows per thread (at most 512 rows, about a
    # quarter of N here): a working buffer, well below a copy of the view.
    for name in ("cols", "rows"):
        assert r[f"{name}_graph"] < 0.4 * r[f"{name}_view"], r
    # The copy is visible: at least the size of the copied array.
    assert r["fortran"] > 0.9 * r["fortran_size"], r


# In-process rules ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_torch_tensors_share_memory(dtype):
    t = torch.randn(30, 8).to(dtype)
    arr = as_array(t, "x")
    assert arr.ctypes.data == t.data_ptr()
    assert arr.shape == (30, 8) and arr.itemsize == 2 + 2 * (dtype == torch.float32)
    # a strided row view too
    v = t[::3]
    assert as_array(v, "x").ctypes.data == v.data_ptr()


def test_numpy_views_share_memory():
    x = np.random.default_rng(0).standard_normal((40, 16)).astype(np.float32)
    for v in (x, x[:, :8], x[::2], x[5:]):
        assert as_array(v, "x").ctypes.data == v.ctypes.data
    bf = x.astype(ml_dtypes.bfloat16)
    assert as_array(bf, "x").ctypes.data == bf.ctypes.data
    h = x.astype(np.float16)[::2]
    assert as_array(h, "x").ctypes.data == h.ctypes.data


def test_requires_grad_tensor_works():
    a, b = correlated(50, 8, 12, seed=2)
    ta = torch.from_numpy(a).requires_grad_(True)
    assert as_array(ta, "x").ctypes.data == ta.data_ptr()
    assert repalign.mutual_knn(ta, b, 5) == repalign.mutual_knn(a, b, 5)
    assert repalign.cka(ta, torch.from_numpy(b)) == repalign.cka(a, b)


@pytest.fixture(scope="module")
def wide():
    rng = np.random.default_rng(5)
    return rng.standard_normal((60, 24)).astype(np.float32), rng.standard_normal((60, 12)).astype(np.float32)


def _results(x, y):
    g = repalign.knn_graph(x, 5)
    return (
        g.indices.tobytes(),
        g.scores.tobytes(),
        repalign.mutual_knn(x, y, 5),
        repalign.lcs_knn(x, y, 5),
        repalign.cka(x, y),
        repalign.cknna(x, y, 5),
        repalign.svcca(x, y, 4),
        repalign.prepare(x, "paper").tobytes(),
    )


def test_noncontiguous_layouts_equal_their_contiguous_copies(wide):
    a, b = wide
    for view in (a[:, ::2], np.asfortranarray(a), a[::-1], a[::-2], a[:, ::-1], a[3:50:3, 1:20]):
        want = _results(np.ascontiguousarray(view), np.ascontiguousarray(b[: len(view), :]))
        assert _results(view, b[: len(view), :]) == want
    # torch: transposed and sliced tensors.
    t = torch.from_numpy(np.ascontiguousarray(a.T)).T  # Fortran-like strides
    assert _results(t, b) == _results(a, b)
    t2 = torch.from_numpy(a)[:, ::2]
    assert _results(t2, b) == _results(np.ascontiguousarray(a[:, ::2]), b)


def test_float64_and_integers_are_converted(wide):
    a, b = wide
    assert _results(a.astype(np.float64), b) == _results(a, b)
    assert _results(torch.from_numpy(a.astype(np.float64)), b) == _results(a, b)
    ai = np.round(a * 10).astype(np.int32)
    for x in (ai, ai.astype(np.int64), ai.astype(np.int16), torch.from_numpy(ai)):
        assert _results(x, b) == _results(ai.astype(np.float32), b)
    au = np.abs(ai).astype(np.uint8)
    assert repalign.cka(au, b) == repalign.cka(au.astype(np.float32), b)
    # nested Python lists are arrays too
    assert repalign.cka(a.tolist(), b) == repalign.cka(a, b)


@pytest.mark.parametrize(
    "bad",
    [
        lambda a: a > 0,
        lambda a: a.astype(np.complex64),
        lambda a: a.astype(object),
        lambda a: a.astype(str),
        lambda a: torch.from_numpy(a > 0),
        lambda a: torch.from_numpy(a.astype(np.complex64)),
    ],
    ids=["bool", "complex", "object", "str", "torch-bool", "torch-complex"],
)
def test_unsupported_dtypes_raise_type_error(wide, bad):
    a, b = wide
    with pytest.raises(TypeError, match="not supported"):
        repalign.mutual_knn(bad(a), b, 5)
    with pytest.raises(TypeError):
        repalign.knn_graph(bad(a), 5)


def test_wrong_dimensions_raise_value_error(wide):
    a, b = wide
    for x in (a[:, 0], a.reshape(60, 2, 3, 4), np.float32(1.0)):
        with pytest.raises(ValueError, match="expected a 2-D array"):
            repalign.mutual_knn(x, b, 5)
        with pytest.raises(ValueError):
            repalign.knn_graph(x, 5)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        repalign.prepare(a.reshape(60, 2, 3, 4))
    with pytest.raises(ValueError):
        repalign.sweep(a.reshape(60, 2, 3, 4), b)


class _FakeCuda:
    """An array on DLPack device type 2 (kDLCUDA)."""

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        raise AssertionError("must not be called: the device is checked first")


def test_gpu_arrays_are_refused(wide):
    a, b = wide
    with pytest.raises(TypeError, match="CPU"):
        repalign.mutual_knn(_FakeCuda(), b, 5)
    with pytest.raises(TypeError, match="CPU"):
        repalign.knn_graph(_FakeCuda(), 5)
    meta = torch.empty(60, 24, device="meta")
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        repalign.mutual_knn(meta, b, 5)
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        repalign.cka(torch.from_numpy(a), meta[:, :12])


def test_dlpack_cpu_objects_are_read(wide):
    a, b = wide

    class Cpu:
        def __init__(self, x):
            self.x = x

        def __dlpack_device__(self):
            return self.x.__dlpack_device__()

        def __dlpack__(self, **kw):
            return self.x.__dlpack__(**kw)

    assert repalign.cka(Cpu(a), b) == repalign.cka(a, b)
    assert as_array(Cpu(a), "x").ctypes.data == a.ctypes.data


def test_conj_and_neg_views_are_resolved(wide):
    a, b = wide
    t = torch.from_numpy(a)
    neg = torch._neg_view(t) if hasattr(torch, "_neg_view") else -t
    assert repalign.cka(neg, b) == repalign.cka(-a, b)


def _misaligned(x: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `x` whose data starts one byte past an aligned address."""
    buf = np.zeros(x.nbytes + 1, dtype=np.uint8)
    m = np.frombuffer(buf.data, dtype=x.dtype, count=x.size, offset=1).reshape(x.shape)
    m[...] = x  # numpy handles unaligned stores
    assert not m.flags.aligned and m.flags.c_contiguous
    return m


def test_misaligned_strided_views_are_copied(wide):
    a, b = wide
    m = _misaligned(np.ascontiguousarray(np.hstack([a, a])))[:, :24]  # not C-contiguous
    assert not m.flags.c_contiguous
    assert repalign.cka(m, b) == repalign.cka(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_misaligned_contiguous_arrays_are_copied(wide, dtype):
    a, b = wide
    m = _misaligned(a.astype(dtype))
    assert repalign.cka(m, b) == repalign.cka(a.astype(dtype), b)
