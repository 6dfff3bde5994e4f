"""What the lossless pixel model sees: each plane's causal neighbourhood and the planes coded before.

Planes are coded one after another (grey; or R, G, B; then alpha).  A pixel of plane c is
predicted from

* its causal neighbours in plane c: the R rows above within ±R columns and the R pixels to its
  left (`causal_offsets`), and
* the prediction errors of its nearest causal neighbours (`ERROR_OFFSETS`: the pixel's value
  minus the linear prediction of it, which the decoder knows once it has decoded that pixel),
* the 3x3 neighbourhood of the same position in every plane before c (known whole), and those
  planes' prediction errors in the same 3x3.

A causal neighbour outside the image is replaced by the nearest pixel the decoder already has:
its column is clamped into the image and its row to row 0; if that pixel is not before the
current one in raster order, the left neighbour, else the one above, else the constant `EDGE`.
The replacement is a fixed table of flat indexes (one extra slot holds `EDGE`), so the encoder's
gather over the whole image and the decoder's gather per wavefront read the same values.

Pixels are decoded in anti-diagonal wavefronts j + (R + 1)·i = t: every causal neighbour
(including replacements) lies on an earlier wavefront.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

EDGE = 128  # value of the slot that stands for "no pixel decoded yet" (only the first pixel reads it)
PLANE_OFFSETS = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))
ERROR_OFFSETS = ((0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0))  # within any radius >= 2


@lru_cache(maxsize=8)
def causal_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    return tuple((di, dj) for di in range(-radius, 1) for dj in range(-radius, radius + 1) if di < 0 or dj < 0)


def error_columns(radius: int) -> np.ndarray:
    """Where the `ERROR_OFFSETS` neighbours sit among the causal ones."""
    offs = causal_offsets(radius)
    return np.array([offs.index(o) for o in ERROR_OFFSETS], dtype=np.int64)


def slope(radius: int) -> int:
    """Wavefront slope: the neighbour at (i - 1, j + R) must lie on an earlier wavefront."""
    return radius + 1


def neighbour_slots(h: int, w: int, radius: int) -> np.ndarray:
    """(h*w, n) int64: flat index of each pixel's causal neighbours; h*w is the `EDGE` slot."""
    i, j = np.divmod(np.arange(h * w, dtype=np.int64), w)
    out = np.empty((h * w, len(causal_offsets(radius))), dtype=np.int64)
    for k, (di, dj) in enumerate(causal_offsets(radius)):
        ni = np.maximum(i + di, 0)
        nj = np.clip(j + dj, 0, w - 1)
        before = (ni < i) | ((ni == i) & (nj < j))
        fallback = np.where(j > 0, i * w + j - 1, np.where(i > 0, (i - 1) * w + j, h * w))
        out[:, k] = np.where(before, ni * w + nj, fallback)
    return out


def causal_context(plane: np.ndarray, radius: int, edge=EDGE) -> np.ndarray:
    """(h*w, n) causal neighbours of every pixel of ``plane`` (the encoder's view, all at once)."""
    h, w = plane.shape
    flat = np.append(plane.ravel(), edge)
    return flat[neighbour_slots(h, w, radius)]


def plane_context(plane: np.ndarray) -> np.ndarray:
    """(h*w, 9) 3x3 neighbourhood of every position in an earlier (fully known) plane, edges
    replicated."""
    h, w = plane.shape
    p = np.pad(plane, 1, mode="edge")
    return np.stack([p[1 + di : 1 + di + h, 1 + dj : 1 + dj + w] for di, dj in PLANE_OFFSETS], -1).reshape(h * w, 9)


def wavefronts(h: int, w: int, radius: int) -> list[np.ndarray]:
    """Flat indexes of the pixels of each wavefront j + slope·i = t, in decoding order."""
    s = slope(radius)
    i, j = np.divmod(np.arange(h * w), w)
    t = j + s * i
    order = np.argsort(t, kind="stable")
    return np.split(order, np.cumsum(np.bincount(t, minlength=w + s * (h - 1)))[:-1])
