"""Convolutions in numpy, for the decoder paths that run without torch.

A convolution is one matrix product per band of output rows, over that band's gathered taps:
the im2col buffer never exceeds BAND_BYTES.  In float64 on integer values below 2**53 (the
fixed-point networks, int_hyper_synthesis.py) every summation order gives the same, exact
result; in float32 (the synthesis) they agree with PyTorch's to float rounding.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

BAND_BYTES = 1 << 22  # the gathered taps of one band of output rows: 4 MB (32 MB: +130 MB RSS, no faster)
_SET = ("openblas_set_num_threads64_", "openblas_set_num_threads", "scipy_openblas_set_num_threads64_")
_GET = ("openblas_get_num_threads64_", "openblas_get_num_threads", "scipy_openblas_get_num_threads64_")


@lru_cache(maxsize=1)
def _openblas():
    """(get, set) of the thread count of the OpenBLAS numpy runs on, or None (another BLAS)."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        get = next((getattr(lib, n) for n in _GET if hasattr(lib, n)), None)
        set_ = next((getattr(lib, n) for n in _SET if hasattr(lib, n)), None)
        if get is not None and set_ is not None:
            get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
            return get, set_
    return None


_workers = 1  # threads conv2d spreads its bands over, inside threads_by_band()
_inside = 0  # threads_by_band() contexts open (decodes running in several threads share one setting)
_saved = 1  # BLAS's thread count before the first of them
_lock = threading.Lock()


@lru_cache(maxsize=4)
def _pool(n: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="npconv")


@contextmanager
def threads_by_band():
    """Multi-threaded float convolutions whose results do not depend on the thread count.

    OpenBLAS's threaded GEMM gives different float32 sums with 1 and with 2 threads (measured:
    one-level pixel flips in g_s).  Inside this context every BLAS call runs on one thread, and
    conv2d spreads its bands (whose size depends on the layer alone) over as many threads as BLAS
    had: each output value is one single-threaded product, whoever computes it."""
    global _workers, _inside, _saved
    blas = _openblas()
    with _lock:
        if _inside == 0:
            _saved = blas[0]() if blas else int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)
            if blas:
                blas[1](1)
            _workers = max(1, _saved)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                _workers = 1
                if blas:
                    blas[1](_saved)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """(N, C, H, W) * (O, C, k, k) -> (N, O, H', W'), zero padding, as torch's conv2d: one matrix
    product per band of output rows over its gathered taps (im2col of the band only)."""
    N, C = x.shape[:2]
    O, _, kh, kw = w.shape
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    dtype = np.result_type(x, w)
    out = np.empty((N, O, Ho, Wo), dtype=dtype)
    w2 = np.ascontiguousarray(w.reshape(O, C * kh * kw), dtype=dtype)
    rows = max(1, BAND_BYTES // max(1, C * kh * kw * Wo * dtype.itemsize))

    def band(job):
        n, r0 = job
        r1 = min(Ho, r0 + rows)
        cols = np.empty((C, kh, kw, r1 - r0, Wo), dtype=dtype)
        for di in range(kh):
            for dj in range(kw):
                i0 = r0 * stride + di
                cols[:, di, dj] = x[n, :, i0 : i0 + stride * (r1 - r0 - 1) + 1 : stride,
                                    dj : dj + stride * (Wo - 1) + 1 : stride]
        out[n, :, r0:r1] = (w2 @ cols.reshape(C * kh * kw, -1)).reshape(O, r1 - r0, Wo)

    jobs = [(n, r0) for n in range(N) for r0 in range(0, Ho, rows)]
    if _workers > 1 and len(jobs) > 1:
        list(_pool(_workers).map(band, jobs))
    else:
        for job in jobs:
            band(job)
    if b is not None:
        out += b.reshape(1, -1, 1, 1).astype(dtype)
    return out


def conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, padding: int,
                     output_padding: int) -> np.ndarray:
    """(N, C, H, W) * (C, O, k, k) -> (N, O, (H-1)s - 2p + k + op, ...), as torch's
    conv_transpose2d: a stride-1 convolution of the input spread ``stride`` apart, with the kernel
    flipped and its channel axes swapped."""
    N, C, H, W = x.shape
    k = w.shape[-1]
    spread = np.zeros((N, C, (H - 1) * stride + 1, (W - 1) * stride + 1), dtype=x.dtype)
    spread[:, :, ::stride, ::stride] = x
    lo, hi = k - 1 - padding, k - 1 - padding + output_padding
    spread = np.pad(spread, ((0, 0), (0, 0), (lo, hi), (lo, hi)))
    return conv2d(spread, np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)), b)


def pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    """(N, C r², H, W) -> (N, C, H r, W r), torch's channel order."""
    N, C, H, W = x.shape
    c = C // (r * r)
    return x.reshape(N, c, r, r, H, W).transpose(0, 1, 4, 2, 5, 3).reshape(N, c, H * r, W * r)


def pixel_unshuffle(x: np.ndarray, r: int) -> np.ndarray:
    """(N, C, H r, W r) -> (N, C r², H, W), the inverse of pixel_shuffle."""
    N, C, H, W = x.shape
    h, w = H // r, W // r
    return x.reshape(N, C, h, r, w, r).transpose(0, 1, 3, 5, 2, 4).reshape(N, C * r * r, h, w)
