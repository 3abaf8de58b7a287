"""Inputs to the arrays the native module views: numpy, torch, anything with DLPack.

The rules (documented in README "Python"):

* float32 and float16 arrays are read in place; bfloat16 too (torch's, or numpy's from
  ml_dtypes), as its raw 16-bit pattern. torch CPU tensors arrive through DLPack without a
  copy; a tensor that requires grad is detached first (also without a copy).
* float64 and integer arrays are converted to float32 once (a copy the size of the input in
  float32: repalign computes in float32, as the paper's code does). bool, complex, object
  and other dtypes raise TypeError.
* A view whose last axis is contiguous and whose other strides are non-negative (any row
  stride: slices, a layer of an N x L x D array) is read in place. Fortran order, negative
  strides, a strided last axis or misaligned data are copied once into C order.
* Tensors on a GPU (or any non-CPU DLPack device) raise TypeError: call ``.cpu()`` first.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

# The private contract with the native module: uint16 arrays hold bfloat16 bits.
_BF16_BITS = np.uint16
_VIEWED = (np.dtype(np.float32), np.dtype(np.float16))
_KDLCPU = 1


def _from_torch(x: Any, name: str) -> np.ndarray:
    torch = sys.modules["torch"]
    if x.device.type != "cpu":
        raise TypeError(f"{name}: repalign computes on the CPU, and this tensor is on {x.device}; call .cpu() first")
    x = x.detach()
    if x.is_conj() or x.is_neg():
        x = x.resolve_conj().resolve_neg()
    if x.dtype == torch.bfloat16:
        # numpy has no bfloat16 of its own: the same bytes, seen as 16-bit integers.
        return np.from_dlpack(x.view(torch.int16)).view(_BF16_BITS)
    if x.dtype in (torch.float32, torch.float16):
        return np.from_dlpack(x)
    # float64, integers: one conversion to float32 (see module doc); others are refused.
    if x.dtype.is_floating_point or not (x.dtype.is_complex or x.dtype == torch.bool):
        return np.from_dlpack(x.to(torch.float32))
    raise TypeError(f"{name}: dtype {x.dtype} is not supported (float32, float16, bfloat16; float64 and integers are converted)")


def as_array(x: Any, name: str, ndims: tuple[int, ...] = (2,)) -> np.ndarray:
    """`x` as an ndarray of float32, float16 or bfloat16 bits that the native module can
    view, with `x.ndim` in `ndims`."""
    # The common case first, in a fraction of a microsecond: C-ordered float32 or float16.
    if type(x) is np.ndarray and x.dtype in _VIEWED and x.ndim in ndims and x.flags.c_contiguous and x.flags.aligned:
        return x
    bf16_bits = None
    if type(x).__module__.startswith("torch") and "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor):
        arr = _from_torch(x, name)
        if arr.dtype == _BF16_BITS:
            bf16_bits = arr
    elif isinstance(x, np.ndarray):
        arr = x
    elif hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        device = x.__dlpack_device__()
        if int(device[0]) != _KDLCPU:
            raise TypeError(f"{name}: repalign computes on the CPU, and this array is on DLPack device {tuple(device)}; copy it to the CPU first")
        arr = np.from_dlpack(x)
    else:
        arr = np.asarray(x)
    dt = arr.dtype
    if dt.name == "bfloat16" and dt.itemsize == 2:  # ml_dtypes
        arr = arr.view(_BF16_BITS)
    elif arr is bf16_bits:
        pass
    elif dt not in _VIEWED:
        if dt.kind in "fiu":
            arr = arr.astype(np.float32)
        else:
            raise TypeError(
                f"{name}: dtype {dt} is not supported (float32, float16, bfloat16; float64 and integers are converted)"
            )
    if arr.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{name}: expected a {want} array, got shape {arr.shape}")
    if not viewable(arr):
        # One copy into aligned C order (ascontiguousarray alone keeps misaligned data).
        arr = np.require(arr, requirements=["C", "A"])
    return arr


def viewable(arr: np.ndarray) -> bool:
    """Whether the native module can read `arr` in place (see module doc)."""
    size = arr.itemsize
    if arr.ctypes.data % size:
        return False
    for axis, (n, s) in enumerate(zip(arr.shape, arr.strides)):
        if n <= 1:
            continue
        last = axis == arr.ndim - 1
        if s < 0 or s % size or (last and s != size):
            return False
    return True


def dense(arr: np.ndarray) -> np.ndarray:
    """`arr` itself when C-contiguous (the layout the preparation reads), else a C copy."""
    return arr if arr.flags.c_contiguous and arr.flags.aligned else np.require(arr, requirements=["C", "A"])


def as_layers(x: Any, name: str) -> list[np.ndarray]:
    """One model's layers: an N x L x D array (layer l is ``x[:, l, :]``, viewed in place)
    or a sequence of N x D_l arrays (widths may differ); an N x D array is one layer."""
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"{name}: no layers")
        return [as_array(layer, f"{name}[{i}]") for i, layer in enumerate(x)]
    arr = as_array(x, name, (2, 3))
    if arr.ndim == 2:
        return [arr]
    return [arr[:, i, :] for i in range(arr.shape[1])]


def as_indices(x: Any, name: str) -> np.ndarray:
    """Neighbour lists (any integer array, numpy or torch) as C-contiguous int64."""
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: neighbour indices must be integers, got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected an N x k array of neighbour indices, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.int64)
