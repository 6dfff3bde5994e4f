"""Normalise user arrays to the codec's RGB8 and back.

Accepted: ``uint8`` or ``uint16`` arrays shaped HxW (grey), HxWx1, HxWx3 (RGB) or HxWx4 (RGBA).
16-bit values are scaled to 8 bits with rounding, ``round(v * 255 / 65535)``; the decoder returns
8 bits.  Grey is coded as RGB and returned as HxW (the mean of the decoded channels).  Alpha is
carried losslessly (zlib) in the ancillary ``alph`` chunk and returned as the fourth channel.
"""
from __future__ import annotations

import zlib

import numpy as np

from bitstream.header import check_size


def to_rgb8(array: np.ndarray) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Return (HxWx3 uint8, channel count for the header, HxW uint8 alpha or None)."""
    a = np.asarray(array)
    if a.dtype == np.uint16:
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or uint16 image array, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 array, got shape {a.shape}")
    check_size(a.shape[1], a.shape[0])
    channels = a.shape[2]
    alpha = a[:, :, 3].copy() if channels == 4 else None
    rgb = np.repeat(a, 3, axis=2) if channels == 1 else a[:, :, :3]
    return np.ascontiguousarray(rgb), channels, alpha


def from_rgb8(rgb: np.ndarray, channels: int, alpha: np.ndarray | None) -> np.ndarray:
    if channels == 1:
        return ((rgb.astype(np.uint16).sum(axis=2) + 1) // 3).astype(np.uint8)
    if channels == 4:
        if alpha is None:  # the ancillary alpha chunk was dropped: opaque is the safe reading
            alpha = np.full(rgb.shape[:2], 255, np.uint8)
        return np.concatenate([rgb, alpha[:, :, None]], axis=2)
    return rgb


def pack_alpha(alpha: np.ndarray) -> bytes:
    return zlib.compress(alpha.tobytes(), 9)


def unpack_alpha(data: bytes, height: int, width: int) -> np.ndarray:
    from bitstream.container import FormatError

    d = zlib.decompressobj()
    try:
        raw = d.decompress(data, height * width)  # never inflate past the size the header allows
    except zlib.error as e:
        raise FormatError(f"alpha chunk is invalid: {e}") from None
    if len(raw) != height * width or d.unconsumed_tail:
        raise FormatError("alpha chunk does not match the image size")
    return np.frombuffer(raw, np.uint8).reshape(height, width)
