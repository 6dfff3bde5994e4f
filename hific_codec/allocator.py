"""Keep the synthesis transform's large buffers on the heap (glibc ``mallopt``).

The decoder allocates a few tensors of ~37 MB per 768x512 image (96 channels at 384x256).  glibc
serves anything above its mmap threshold (at most 32 MiB by default) with a fresh ``mmap``, so
each one costs page faults and zeroing on first touch, and ``munmap`` on release.  Raising the
threshold to 256 MiB and the trim threshold to 512 MiB lets freed buffers be reused: Kodak
768x512 decode in one process, 2nd to 6th call, median 0.49-0.56 s -> 0.38-0.41 s on this
project's 2-core machine (three interleaved runs each), pixels unchanged (allocation does not
touch arithmetic).  The cost: a process keeps up to 512 MiB of
freed heap instead of returning it to the OS at once.

The gain is in processes that decode more than once: batch workers (``nic decode DIR --jobs``),
the demo and the benchmark harness call :func:`tune`.  A one-file ``nic decode`` is left alone:
its time is dominated by ``import torch`` (3.4 s here) and measured the same either way (3.4-4.3 s
per process, interleaved runs), with 150 MB more peak RSS when tuned.  A library cannot make this
choice for its host process, so Python users opt in: ``hific_codec.allocator.tune()``.
``NIC_MALLOC_TUNE=0`` turns it off everywhere.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers

_applied: bool | None = None


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds for this process, once.  Returns whether they are
    in effect (False off Linux/glibc, or with ``NIC_MALLOC_TUNE=0``)."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def applied() -> bool:
    """Whether :func:`tune` has put the thresholds in effect in this process (it never tunes)."""
    return bool(_applied)


def _apply() -> bool:
    if os.environ.get("NIC_MALLOC_TUNE", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
