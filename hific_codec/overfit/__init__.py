"""Overfitted coding: encoder effort 3 and up spends encode time fitting a small decoder and latent
grids to the image itself (model.py: Cool-chic / C3 lineage), and the file carries them (chunk
OFIT, format 1.5).  No dataset training is involved; decoding is cheap (~1.5k multiplications
per pixel) and its entropy decoding exact on every machine (exact.py).

    effort 3 / 4 / 5   ITERATIONS of the fit (EFFORTS); ``seconds`` sets a time budget instead
    quality 0..100     λ = LAMBDA_LOW · (LAMBDA_HIGH / LAMBDA_LOW)^(q / 100) in MSE + λ·bpp
    bpp                λ steered during the fit towards the target (fit.FitConfig.target_bpp)

torch is imported only when a function here runs.
"""
from __future__ import annotations

import numpy as np

EFFORTS = {3: 600, 4: 2000, 5: 6000}  # fit iterations per effort level
LAMBDA_LOW, LAMBDA_HIGH = 2e-2, 1e-4  # λ at quality 0 and 100 (loss: MSE on [0, 1] pixels + λ·bpp)
MAX_PIXELS = 1 << 21  # the fit holds the whole image and its gradients (~3.3 KB per pixel): 2 Mpx, ~7 GB


def lmbda(quality: float) -> float:
    return LAMBDA_LOW * (LAMBDA_HIGH / LAMBDA_LOW) ** (quality / 100.0)


def encode(rgb: np.ndarray, quality: float = 50.0, effort: int = 3, *, seconds: float | None = None,
           target_bpp: float | None = None, progress=None):
    """Fit and code ``rgb`` (h, w, 3 uint8) -> codec.Encoded (the OFIT payload and its figures).  ``progress(fit.Progress)`` is called every few
    iterations; an exception from it (or Ctrl-C) stops the encode with nothing written."""
    if effort not in EFFORTS:
        raise ValueError(f"overfitted effort must be one of {sorted(EFFORTS)}, got {effort}")
    h, w = rgb.shape[:2]
    if h * w > MAX_PIXELS:
        raise ValueError(f"overfitted coding (effort >= 3) is limited to {MAX_PIXELS} pixels; this image has "
                         f"{h * w}: use effort 0-2")
    from . import codec
    from .fit import FitConfig

    fc = FitConfig(iterations=EFFORTS[effort], lmbda=lmbda(quality), seconds=seconds, target_bpp=target_bpp)
    return codec.encode(rgb, fc, callback=progress)


def decode(payload: bytes, height: int, width: int) -> np.ndarray:
    from . import codec

    return codec.decode(payload, height, width)
