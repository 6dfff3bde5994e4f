"""MKL's conditional numerical reproducibility (CBWR) for the float synthesis.

The decoder's synthesis runs on MKL GEMMs (oneDNN off).  In strict CBWR mode MKL's results do not
depend on the thread count; the AVX2 branch is honoured on Intel CPUs only (elsewhere MKL runs
its automatic branch, still strict).  MKL reads the mode once, at its first call: the package sets
``MKL_CBWR`` before torch loads, and `pin` asks MKL's own API where the variable came too late.
If MKL already ran in another mode (some code ran a GEMM before ``import hific_codec``), nothing
can change it: `warn_if_loose` says so once.  Pixels then stay within the documented
cross-machine tolerance but may also vary with the thread count.
"""
from __future__ import annotations

import ctypes
import os
import warnings
from functools import lru_cache

ENV = "AVX2,STRICT"
STRICT = 0x10000
AUTO, AVX2 = 2, 10
_ALL = -1


@lru_cache(maxsize=1)
def _mkl():
    try:
        import torch

        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        get, set_ = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_set
    except (OSError, AttributeError):  # a build without MKL (e.g. aarch64): nothing to pin
        return None
    for f in (get, set_):
        f.argtypes, f.restype = [ctypes.c_int], ctypes.c_int
    return get, set_


def mkl_mode() -> int | None:
    """MKL's current CBWR mode (branch | STRICT bit), or None without MKL."""
    m = _mkl()
    return None if m is None else m[0](_ALL)


def strict() -> bool:
    mode = mkl_mode()
    return mode is None or bool(mode & STRICT)


def pin() -> bool:
    """Put MKL in strict mode if it has not run yet; True if it is strict (or absent)."""
    m = _mkl()
    if m is None or strict():
        return True
    return any(m[1](mode) == 0 for mode in (AVX2 | STRICT, AUTO | STRICT))  # AVX2 is refused on non-Intel CPUs


_warned = False


def warn_if_loose() -> None:
    global _warned
    if not _warned and not strict():
        _warned = True
        warnings.warn(f"MKL ran before hific_codec was imported, in a mode (CBWR {mkl_mode():#x}) whose results "
                      "depend on the thread count: decoded pixels may differ by one level between thread counts. "
                      "Import hific_codec first, or set MKL_CBWR=AVX2,STRICT", RuntimeWarning, stacklevel=3)
