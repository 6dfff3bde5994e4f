"""Lossless coding: a pixel model fitted to the image, carried in the file and evaluated in exact
integer arithmetic, so that every machine decodes the same pixels (chunk PIXL, format 1.7).

    encode(planes) -> PIXL payload          decode(payload, h, w, planes) -> planes

Planes are grey; R, G, B; or R, G, B, alpha (8 bits each), coded in that order, each conditioned
on the ones before it (hific_codec.lossless.context).
"""
from __future__ import annotations

import math
import time

import numpy as np

MAX_PIXELS = 1 << 21  # the encoder holds every pixel's context at once: ~3.7 KB per pixel, 2 Mpx ~7.5 GB


def encode(planes: np.ndarray, progress=None, **config) -> bytes:
    """(h, w, P) uint8 -> PIXL payload.  ``progress(hific_codec.progress.Progress)`` is called every
    10 fitting steps (bpp and psnr nan); an exception from it stops the encode.  ``config``:
    fields of model.LosslessConfig."""
    h, w = planes.shape[:2]
    if h * w > MAX_PIXELS:
        raise ValueError(f"lossless coding is limited to {MAX_PIXELS} pixels; this image has {h * w}")
    from . import codec
    from .model import LosslessConfig

    report = None
    if progress is not None:
        from ..progress import Progress

        t0 = time.perf_counter()

        def report(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                progress(Progress(done, total, math.nan, math.nan, time.perf_counter() - t0))

    return codec.encode(planes, LosslessConfig(**config), report).payload


def decode(payload: bytes, height: int, width: int, planes: int) -> np.ndarray:
    """PIXL payload -> (height, width, planes) uint8; ``planes``: the header's channel count."""
    from . import decoder  # numpy only: decoding never imports torch

    return decoder.decode(payload, height, width, planes)
